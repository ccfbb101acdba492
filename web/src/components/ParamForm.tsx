// A form generated from a flat parameter schema (spec §1): an action's parameters, or an
// inquiry's response_schema. Types, enums as selects, required marks, defaults filled in, secrets
// as password fields, arrays/objects as JSON editors.
import { numberOf, parse, stringify } from "../json";
import type { ParameterSpec, Problem } from "../types";

export type FormValues = Record<string, string | boolean>;

/** The form's starting values: `given` (a run's parameters, for a re-run) over the defaults.
 *  A secret's default is not shown (the API sends it masked): its field starts empty, and left
 *  empty it is left out, so the server applies the default. Numbers as the API wrote them
 *  (json.ts): 2**63 inside an array is not rounded to 9223372036854776000. */
export function initialValues(params: Record<string, ParameterSpec>, given: Record<string, unknown> = {}): FormValues {
  const values: FormValues = {};
  for (const [name, spec] of Object.entries(params)) {
    const d = name in given ? given[name] : spec.secret ? undefined : spec.default;
    if (spec.type === "boolean") values[name] = d === true;
    else if (d === undefined || d === null) values[name] = "";
    else if (spec.type === "array" || spec.type === "object") {
      const flat = stringify(d);
      values[name] = flat.length <= 60 ? flat : stringify(d, 2);
    }
    else values[name] = String(d);
  }
  return values;
}

// Decimal notation only: Number() also reads "0x10", "Infinity" and "1e400", which the API would
// get as 16, null and null; such text is refused here, where it was typed.
const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

/** The problem of a field's text, checked as the user types: a number that is not one, an
 *  array/object that is not the JSON it needs. A large integer is sent as written (json.ts). */
export function fieldProblem(spec: ParameterSpec, text: string): string | null {
  if (text.trim() === "") return null;
  if (spec.type === "integer" || spec.type === "number") return numberProblem(spec.type, text);
  return jsonProblem(spec, text);
}

const DIGITS = /^\s*([+-]?)0*(\d+)\s*$/;

function numberProblem(type: "integer" | "number", text: string): string | null {
  const n = Number(text);
  if (!DECIMAL.test(text)) return `not a number: write it in decimal, e.g. ${type === "integer" ? "42" : "0.5"}`;
  if (DIGITS.test(text)) return null; // sent as written, however large
  if (!Number.isFinite(n)) return "too large a number";
  if (type === "integer" && !Number.isInteger(n)) return "must be a whole number";
  if (type === "integer" && !Number.isSafeInteger(n))
    return `too large to send exactly from a browser written this way: write it in digits (${BigInt(n)})`;
  return null;
}

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** A number field's value to send: an integer in digits as written (a JSON number of any size);
 *  for a `number`, any JSON number as written (a float prefilled as 1.0 stays 1.0); else the
 *  float the server reads it as. */
function numberValue(type: "integer" | "number", text: string): unknown {
  if (type === "number" && JSON_NUMBER.test(text.trim())) return numberOf(text.trim());
  const digits = DIGITS.exec(text);
  if (digits) return numberOf(`${digits[1] === "-" ? "-" : ""}${digits[2]}`);
  return Number(text);
}

function jsonProblem(spec: ParameterSpec, text: string): string | null {
  if (spec.type !== "array" && spec.type !== "object") return null;
  try {
    const value = parse(text);
    if (spec.type === "array" && !Array.isArray(value)) return "must be a JSON array: [ ... ]";
    if (spec.type === "object" && (typeof value !== "object" || value === null || Array.isArray(value)))
      return "must be a JSON object: { ... }";
    return null;
  } catch (err) {
    return `invalid JSON: ${(err as Error).message}`;
  }
}

/** The parameters to submit. An empty field is not given, so the server applies its default; a
 *  value the browser can't convert is sent as typed, so the API's 422 names the problem.
 *  `given` (a re-run): the old run's parameters. The API keeps the old run's value of every
 *  parameter left out, so an emptied field must be sent, as null, which the API reads as not
 *  given (spec §6): the re-run then runs with what the form shows, as a fresh run from it would.
 *  A field the old run did not have and the user left as prefilled (its default; a checkbox
 *  unticked) is left out: the re-run gets what the old run got, not a value nobody gave. */
export function toParameters(params: Record<string, ParameterSpec>, values: FormValues,
  { given }: { given?: Record<string, unknown> } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const prefilled = given ? initialValues(params, given) : {};
  for (const [name, spec] of Object.entries(params)) {
    const v = values[name];
    if (given && !(name in given) && v === prefilled[name]) continue;
    if (spec.type === "boolean") {
      out[name] = v === true;
      continue;
    }
    const text = String(v ?? "");
    if (text === "") {
      if (given) out[name] = null;
      continue;
    }
    if (spec.type === "integer" || spec.type === "number") {
      out[name] = fieldProblem(spec, text) === null ? numberValue(spec.type, text) : text;
    } else if (spec.type === "array" || spec.type === "object") {
      try {
        out[name] = parse(text);
      } catch {
        out[name] = text;
      }
    } else if (spec.enum && !spec.enum.includes(text)) {
      const match = spec.enum.find((e) => String(e) === text);
      out[name] = match ?? text;
    } else {
      out[name] = text;
    }
  }
  return out;
}

/** Does any field hold text that is not what it needs (a number, an array/object's JSON)? */
export function hasFieldProblem(params: Record<string, ParameterSpec>, values: FormValues): boolean {
  return Object.entries(params).some(([n, s]) => typeof values[n] === "string" && fieldProblem(s, values[n] as string) !== null);
}

/** The API's 422 problems split into those about a field (path `<prefix>.<field>`, e.g.
 *  `parameters.times` or `response.ticket`), shown next to it, and the rest. */
export function problemsByField(details: Problem[], prefix: string, params: Record<string, ParameterSpec>):
  { byField: Record<string, string[]>; rest: Problem[] } {
  const byField: Record<string, string[]> = {};
  const rest = details.filter((d) => {
    const path = d.path ?? "";
    const name = path.startsWith(`${prefix}.`) ? /^[^.[]+/.exec(path.slice(prefix.length + 1))?.[0] : undefined;
    if (name && name in params) {
      (byField[name] ??= []).push(d.message);
      return false;
    }
    return true;
  });
  return { byField, rest };
}

/** What an empty field stands for: its default, which the server applies. A secret's default is
 *  never sent to the browser, so it is only named. */
function placeholderOf(spec: ParameterSpec): string | undefined {
  if (spec.default === null || spec.default === undefined || spec.default === "") return undefined;
  const d = spec.default;
  return spec.secret ? "(its default)" : `(default: ${typeof d === "object" ? stringify(d) : String(d)})`;
}

interface Props {
  params: Record<string, ParameterSpec>;
  values: FormValues;
  onChange: (values: FormValues) => void;
  errors?: Record<string, string[]>;
  idPrefix?: string; // unique per form on the page (several inquiries share field names)
  empty?: string;
}

export function ParamForm({ params, values, onChange, errors = {}, idPrefix = "param", empty = "This action takes no parameters." }: Props) {
  const names = Object.keys(params);
  if (names.length === 0) return <p className="muted">{empty}</p>;
  const set = (name: string, value: string | boolean) => onChange({ ...values, [name]: value });
  return (
    <div className="form-grid">
      {names.map((name) => {
        const spec = params[name];
        const id = `${idPrefix}-${name}`;
        const value = values[name];
        const problems = [...(errors[name] ?? [])];
        const jp = typeof value === "string" ? fieldProblem(spec, value) : null;
        if (jp) problems.unshift(jp);
        const invalid = problems.length > 0;
        const describedBy = `${id}-help`;
        let input;
        if (spec.enum && spec.enum.length > 0) {
          input = (
            <select id={id} name={name} value={String(value ?? "")} aria-invalid={invalid}
              aria-describedby={describedBy} onChange={(e) => set(name, e.target.value)}>
              {!spec.required || value === "" ? <option value="">{placeholderOf(spec) ?? "—"}</option> : null}
              {spec.enum.map((e) => <option key={String(e)} value={String(e)}>{String(e)}</option>)}
            </select>
          );
        } else if (spec.type === "boolean") {
          input = (
            <input id={id} name={name} type="checkbox" checked={value === true} aria-invalid={invalid}
              aria-describedby={describedBy} onChange={(e) => set(name, e.target.checked)} />
          );
        } else if (spec.type === "array" || spec.type === "object") {
          input = (
            <textarea id={id} name={name} className="json-editor" rows={4} spellCheck={false}
              value={String(value ?? "")} aria-invalid={invalid} aria-describedby={describedBy}
              placeholder={spec.type === "array" ? "[ ]" : "{ }"} onChange={(e) => set(name, e.target.value)} />
          );
        } else {
          const numeric = spec.type === "integer" || spec.type === "number";
          input = (
            <input id={id} name={name} type={spec.secret ? "password" : "text"}
              inputMode={numeric ? (spec.type === "integer" ? "numeric" : "decimal") : undefined}
              autoComplete={spec.secret ? "new-password" : "off"} value={String(value ?? "")}
              placeholder={placeholderOf(spec)}
              aria-invalid={invalid} aria-describedby={describedBy} onChange={(e) => set(name, e.target.value)} />
          );
        }
        const range = [spec.minimum != null ? `≥ ${spec.minimum}` : null, spec.maximum != null ? `≤ ${spec.maximum}` : null]
          .filter(Boolean).join(", ");
        return (
          <div className={`field${invalid ? " invalid" : ""}`} key={name} data-field={name}>
            <label htmlFor={id}>
              {name}
              {spec.required && <span className="required" title="required"> *</span>}
              <span className="type">{spec.type}{spec.secret ? " · secret" : ""}{range ? ` · ${range}` : ""}</span>
            </label>
            {input}
            <div id={describedBy} className="help">
              {spec.description && <span>{spec.description}</span>}
              {problems.map((p, i) => <span key={i} className="field-error" role="alert">{p}</span>)}
            </div>
          </div>
        );
      })}
    </div>
  );
}
