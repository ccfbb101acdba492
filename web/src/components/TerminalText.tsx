// Text that came from an action or a person (what it printed, its error, a result, a prompt, a
// parameter), shown as it is and never as it would act on the page. One function for every
// place such text shows:
// - colours (ANSI SGR sequences, which scripts and tools like Ansible print) as colours;
// - other escape sequences (cursor moves, line erases, window titles, hyperlinks: CSI, OSC and
//   the like) dropped, as a terminal consumes them;
// - every other control character (a lone ESC, BEL, backspace, C1 controls) and every
//   bidirectional-text control as a visible mark, <U+202E>, instead of applied: applied, the
//   latter reorder what is displayed ("Trojan Source": "evil" read as "live"), so the page
//   would not show what was there. Tab, newline and carriage return stay as they are.
import Anser from "anser";
import type { CSSProperties, ReactNode } from "react";

// ESC ] (OSC), P (DCS), X (SOS), ^ (PM), _ (APC): a string ended by BEL or ESC \.
const STRING_SEQUENCE = /\u001b[\]PX^_][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;
// ESC and intermediates, then a final byte: everything but CSI (ESC [), which Anser reads.
const SHORT_SEQUENCE = /\u001b[\u0020-\u002f]*[\u0030-\u005a\u005c-\u007e]/g;
/** Characters shown as a mark: C0 controls but tab, newline and carriage return; DEL and the C1
 *  controls; the bidirectional controls and marks (ALM, LRM, RLM, embeddings, overrides,
 *  isolates). */
const SHOWN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const HAS_SHOWN = new RegExp(SHOWN.source);

/** `text` with each character SHOWN as `<U+XXXX>` (plain text: for a title or a field's value). */
export function visibleText(text: string): string {
  return text.replace(SHOWN, markOf);
}

function markOf(c: string): string {
  return `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}>`;
}

function withMarks(text: string, key: string): ReactNode[] {
  const parts: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(SHOWN)) {
    parts.push(text.slice(last, m.index));
    parts.push(<span key={`${key}-${m.index}`} className="control-mark"
      title="A control character, shown rather than applied">{markOf(m[0])}</span>);
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

export function TerminalText({ text }: { text: string }) {
  if (!text.includes("\u001b")) return HAS_SHOWN.test(text) ? <>{withMarks(text, "t")}</> : <>{text}</>;
  const cleaned = text.replace(STRING_SEQUENCE, "").replace(SHORT_SEQUENCE, "");
  return (
    <>
      {Anser.ansiToJson(cleaned, { remove_empty: true }).map((part, i) => {
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
        const content = withMarks(part.content, String(i));
        return Object.keys(style).length ? <span key={i} style={style}>{content}</span> : <span key={i}>{content}</span>;
      })}
    </>
  );
}
