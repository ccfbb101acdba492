// JSON as the API wrote it. JSON.parse turns every number into a float: 2**63 came back as
// 9223372036854776000, 10**30 as 1e+30 and -0.0 as 0, so the UI showed (and an Edit & re-run
// sent) other values than the run had. Here a number whose text a float would not give back
// stays its text (a JsonNumber), and `stringify` writes that text again.

/** A JSON number kept as written. It still reads as a number where one is used (`+n`, `n < 3`,
 *  `${n}`): valueOf is the nearest float, toString the exact text. */
export class JsonNumber {
  constructor(readonly text: string) {}
  valueOf(): number { return Number(this.text); }
  toString(): string { return this.text; }
  toJSON(): number { return Number(this.text); } // JSON.stringify (elsewhere) as before: nearest float
}

/** The number for `text` (a JSON number literal): a plain number when a float gives the same
 *  text back, else the text kept. */
export function numberOf(text: string): number | JsonNumber {
  const n = Number(text);
  return String(n) === text ? n : new JsonNumber(text);
}

/** Is `value` a number beyond what a float holds exactly (an integer past 2^53, say)? */
export function isInexact(value: unknown): boolean {
  if (value instanceof JsonNumber) return true;
  if (Array.isArray(value)) return value.some(isInexact);
  if (value && typeof value === "object") return Object.values(value).some(isInexact);
  return false;
}

const SPACE = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WORD = /true|false|null/y;

type Reviver = (key: string, value: unknown, context?: { source?: string }) => unknown;

/** Whether JSON.parse hands a reviver each number's text (Chromium 114, Firefox 135): then
 *  JSON.parse does the work, several times faster than the parser below. */
const GIVES_SOURCE = (() => {
  let given = false;
  const seen: Reviver = (_k, v, c) => { given = c?.source === "1.0"; return v; };
  try { JSON.parse("1.0", seen as (k: string, v: unknown) => unknown); } catch { /* none */ }
  return given;
})();

const keepText: Reviver = (_k, v, c) =>
  typeof v === "number" && c?.source !== undefined && String(v) !== c.source ? new JsonNumber(c.source) : v;

/** JSON.parse, keeping numbers as written (see JsonNumber). Throws SyntaxError as JSON.parse
 *  does, with the offset. */
export function parse(text: string): unknown {
  return GIVES_SOURCE ? JSON.parse(text, keepText as (k: string, v: unknown) => unknown) : parseByHand(text);
}

/** `parse` for a browser whose JSON.parse does not give a number's text. */
export function parseByHand(text: string): unknown {
  let at = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${at} (line ${text.slice(0, at).split("\n").length})`);
  };
  const token = (re: RegExp): string | null => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return null;
    at = re.lastIndex;
    return m[0];
  };
  const space = () => { token(SPACE); };
  const value = (): unknown => {
    space();
    const c = text[at];
    if (c === "{") {
      at++;
      const out: Record<string, unknown> = {};
      space();
      if (text[at] === "}") { at++; return out; }
      for (;;) {
        space();
        const key = token(STRING);
        if (key === null) fail("expected a \"key\"");
        space();
        if (text[at++] !== ":") { at--; fail("expected ':'"); }
        // defineProperty: a key "__proto__" is a plain key, as with JSON.parse
        Object.defineProperty(out, JSON.parse(key!), { value: value(), enumerable: true, writable: true, configurable: true });
        space();
        if (text[at] === ",") { at++; continue; }
        if (text[at] === "}") { at++; return out; }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      at++;
      const out: unknown[] = [];
      space();
      if (text[at] === "]") { at++; return out; }
      for (;;) {
        out.push(value());
        space();
        if (text[at] === ",") { at++; continue; }
        if (text[at] === "]") { at++; return out; }
        fail("expected ',' or ']'");
      }
    }
    if (c === "\"") {
      const s = token(STRING);
      if (s === null) fail("unterminated or invalid string");
      return JSON.parse(s!);
    }
    const n = token(NUMBER);
    if (n !== null) return numberOf(n);
    const w = token(WORD);
    if (w !== null) return w === "true" ? true : w === "false" ? false : null;
    return fail(at >= text.length ? "unexpected end of JSON" : `unexpected '${c}'`);
  };
  const result = value();
  space();
  if (at < text.length) fail("unexpected text after the JSON value");
  return result;
}

/** JSON.stringify for values from `parse`: a JsonNumber as its text, -0 as -0.0 (JSON.stringify
 *  writes 0). Indents by `indent` spaces as JSON.stringify does; leaves out what it leaves out. */
export function stringify(value: unknown, indent = 0): string {
  const pad = (depth: number) => (indent ? `\n${" ".repeat(indent * depth)}` : "");
  const sep = indent ? ": " : ":";
  const write = (v: unknown, depth: number): string | undefined => {
    if (v instanceof JsonNumber) return v.text;
    if (typeof v === "number") return Object.is(v, -0) ? "-0.0" : JSON.stringify(v);
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    if (typeof (v as { toJSON?: unknown }).toJSON === "function") return write((v as { toJSON: () => unknown }).toJSON(), depth);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return `[${v.map((x) => `${pad(depth + 1)}${write(x, depth + 1) ?? "null"}`).join(",")}${pad(depth)}]`;
    }
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      const s = write(x, depth + 1);
      if (s !== undefined) parts.push(`${pad(depth + 1)}${JSON.stringify(k)}${sep}${s}`);
    }
    return parts.length ? `{${parts.join(",")}${pad(depth)}}` : "{}";
  };
  return write(value, 0) ?? "undefined";
}
