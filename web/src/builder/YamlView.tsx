// The workflow's YAML, editable, with line numbers and each problem marked on its line.
import { useRef } from "react";
import type { Problem } from "../types";

interface Props {
  text: string;
  onChange: (text: string) => void;
  problems: Problem[];
  parseError?: { line: number; column: number; message: string };
}

export function YamlView({ text, onChange, problems, parseError }: Props) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const lines = text.split("\n").length;
  const bad = new Map<number, string[]>();
  for (const p of problems) if (p.line) bad.set(p.line, [...(bad.get(p.line) ?? []), p.message]);
  if (parseError) bad.set(parseError.line, [...(bad.get(parseError.line) ?? []), parseError.message]);

  const jump = (line: number, column = 1) => {
    const el = area.current;
    if (!el) return;
    const before = text.split("\n").slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    el.focus();
    el.setSelectionRange(before + column - 1, before + column - 1);
    el.scrollTop = Math.max(0, (line - 5) * 19);
  };

  return (
    <div className="yaml-view">
      <div className="yaml-editor">
        <div className="gutter" ref={gutter} aria-hidden="true">
          {Array.from({ length: lines }, (_, i) => (
            <div key={i} className={bad.has(i + 1) ? "bad" : undefined} title={bad.get(i + 1)?.join("\n")}>{i + 1}</div>
          ))}
        </div>
        <textarea ref={area} value={text} spellCheck={false} aria-label="Workflow YAML" data-testid="yaml-editor"
          wrap="off" onChange={(e) => onChange(e.target.value)}
          onScroll={(e) => { if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop; }} />
      </div>
      {(parseError || problems.some((p) => p.line)) && (
        <ul className="yaml-problems" data-testid="yaml-problems">
          {parseError && <li><button className="link" onClick={() => jump(parseError.line, parseError.column)}>{parseError.line}:{parseError.column}</button> {parseError.message}</li>}
          {problems.filter((p) => p.line).map((p, i) => (
            <li key={i}><button className="link" onClick={() => jump(p.line!, p.column ?? 1)}>{p.line}:{p.column ?? 1}</button> {p.message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
