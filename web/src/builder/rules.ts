// The API's rules for what the builder lets a person type, checked as they type, in the API's
// words (src/attune/workflows/definition.py task_name_problem and over_duration_limit,
// workflows/validate.py, packs/schema.py). The numbers come from GET /meta (`limits`), not from
// here; without them only the rules that need no number are checked (the live validation
// through the API still reports the rest, after the edit).
import type { Limits } from "../types";

const CONTROL = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;
const ACTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
const SECONDS_PER_YEAR = 365 * 86400;

/** Characters as Python counts them (code points: an emoji is one, not two). */
function chars(text: string): string[] {
  return Array.from(text);
}

function shown(name: string): string {
  const cs = chars(name);
  return cs.length <= 40 ? name : `${cs.slice(0, 40).join("")}…`;
}

/** Python's repr of a string, as the API's messages quote a name with a control character. */
function pyRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const named: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\" };
  let out = "";
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if (named[c]) out += named[c];
    else if (c === quote) out += `\\${c}`;
    else if (CONTROL.test(c)) out += code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
    else out += c;
  }
  return `${quote}${out}${quote}`;
}

function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Why `name` cannot be this task's new name, else null. `others`: the other tasks' names. */
export function taskNameProblem(name: string, others: string[], limits: Limits | undefined): string | null {
  if (!name.trim()) return "a task needs a name";
  if (name.includes("/")) {
    return `task name '${shown(name)}' may not contain '/' (it separates a workflow id from a task's attempt in execution keys)`;
  }
  const bad = name.match(CONTROL);
  if (bad) return `task name ${pyRepr(shown(name))} may not contain a line break or other control character (${codePoint(bad[0])})`;
  const length = chars(name).length;
  if (limits && length > limits.max_task_name_length) {
    return `task name '${shown(name)}' is ${length.toLocaleString("en-US")} characters long, over the limit of ${limits.max_task_name_length} (it is part of the run's ids and keys)`;
  }
  if (limits?.reserved_task_names.includes(name)) {
    return `task name '${name}' is reserved (${limits.reserved_task_names.join(", ")})`;
  }
  if (others.includes(name)) return `duplicate task name '${name}'`;
  return null;
}

/** A literal number of seconds as the API writes it: 315,360,001 or 1.5. */
function seconds(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString("en-US") : String(n);
}

export type DurationField = "timeout" | "delay" | "retry.delay" | "retry.max_delay";

/** Why `value` cannot be this duration of task `task`, else null. A template is checked when the
 *  run renders it; text being typed ("1.", "-") is not judged yet. */
export function durationProblem(value: unknown, field: DurationField, task: string, limits: Limits | undefined): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "string") {
    if (value.includes("{{") || /^[-+]?\.?$/.test(value.trim())) return null;
    return field === "delay" ? "'delay' must be an integer or a {{ }} template"
      : field === "timeout" ? "'timeout' must be a number of seconds or a {{ }} template"
      : `retry '${field.slice(6)}' must be a number of seconds`;
  }
  if (typeof value !== "number") return `'${field}' must be a number of seconds`;
  if (field === "timeout" && value <= 0) return `'timeout' must be greater than 0 seconds, got ${value}`;
  if (field === "delay" && !Number.isInteger(value)) return "'delay' must be an integer or a {{ }} template";
  if (value < 0) return field === "delay" ? "'delay' must be at least 0" : `retry '${field.slice(6)}' must be at least 0`;
  if (limits && value > limits.max_duration_seconds) {
    const max = limits.max_duration_seconds;
    const years = max / SECONDS_PER_YEAR;
    return `task '${task}' ${field}: ${seconds(value)} s is over the limit of ${seconds(max)} s${Number.isInteger(years) ? ` (${years} years)` : ""}`;
  }
  return null;
}

/** Why `name` cannot be a new workflow's name in `pack`, else null (the ref is `<pack>.<name>`). */
export function workflowNameProblem(name: string, pack: string, limits: Limits | undefined): string | null {
  if (!name) return null;
  if (!ACTION_NAME.test(name)) return "letters, digits, '_' or '-' only, not '-' first";
  const ref = `${pack}.${name}`;
  if (limits && pack && ref.length > limits.max_action_ref_length) {
    return `action ref is ${ref.length} characters long, over the limit of ${limits.max_action_ref_length}`;
  }
  return null;
}
