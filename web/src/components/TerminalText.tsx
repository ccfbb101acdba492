// What an action printed, as a terminal would show it: its colours (ANSI SGR sequences, which
// scripts and tools like Ansible print) as colours, other escape sequences (cursor moves, line
// erases) dropped, and bidirectional-text controls shown as visible marks instead of applied:
// applied, they reorder what is displayed ("Trojan Source"), so the page would not show what
// the action printed.
import Anser from "anser";
import type { CSSProperties, ReactNode } from "react";

const BIDI = /[\u202A-\u202E\u2066-\u2069]/g;

function visibleBidi(text: string, key: string): ReactNode[] {
  const parts: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(BIDI)) {
    parts.push(text.slice(last, m.index));
    const code = m[0].codePointAt(0)!.toString(16).toUpperCase();
    parts.push(<span key={`${key}-${m.index}`} className="bidi-mark" title="A bidirectional-text control, shown rather than applied">{`<U+${code}>`}</span>);
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

export function TerminalText({ text }: { text: string }) {
  if (!text.includes("\u001b") && !BIDI.test(text)) return <>{text}</>;
  BIDI.lastIndex = 0;
  return (
    <>
      {Anser.ansiToJson(text, { remove_empty: true }).map((part, i) => {
        const style: CSSProperties = {};
        if (part.fg) style.color = `rgb(${part.fg})`;
        if (part.bg) style.backgroundColor = `rgb(${part.bg})`;
        const d = part.decorations ?? [];
        if (d.includes("bold")) style.fontWeight = 700;
        if (d.includes("dim")) style.opacity = 0.7;
        if (d.includes("italic")) style.fontStyle = "italic";
        if (d.includes("underline") || d.includes("strikethrough")) {
          style.textDecoration = [d.includes("underline") && "underline", d.includes("strikethrough") && "line-through"]
            .filter(Boolean).join(" ");
        }
        const content = visibleBidi(part.content, String(i));
        return Object.keys(style).length ? <span key={i} style={style}>{content}</span> : <span key={i}>{content}</span>;
      })}
    </>
  );
}
