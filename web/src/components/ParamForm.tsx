// A form generated from a flat parameter schema (spec §1): an action's parameters, or an
// inquiry's response_schema. Types, enums as selects, required marks, defaults filled in, secrets
// as password fields, arrays/objects as JSON editors.
import { numberOf, parse, stringify } from "../json";
import { announce } from "./common";
import { formatPath, parsePath } from "../problemPath";
import { REDACTED, type ParameterSpec, type Problem } from "../types";

/** A field's text, or a checkbox's state; a kept secret's field holds REDACTED (see Kept). */
export type FormValues = Record<string, string | boolean>;

/** A re-run's secrets the API shows as ******** (of any type): left as shown, the API keeps the
 *  run's value. `from` is that run's id, for the field's hint. */
export interface Kept { from: number; names: ReadonlySet<string> }

/** Is `name` a secret that `given` (a run's parameters) has as ********? */
const redacted = (spec: ParameterSpec, given: Record<string, unknown> | undefined, name: string): boolean =>
  !!spec.secret && given?.[name] === REDACTED;

/** The secrets of `given` (a run's parameters) that the API redacted. */
export function keptSecrets(params: Record<string, ParameterSpec>, given: Record<string, unknown>, from: number): Kept {
  return { from, names: new Set(Object.keys(params).filter((n) => redacted(params[n], given, n))) };
}

const isKept = (kept: Kept | undefined, name: string, value: unknown): boolean =>
  value === REDACTED && !!kept?.names.has(name);

/** The form's starting values: `given` (a run's parameters, for a re-run) over the defaults.
 *  A secret's default is not shown (the API sends it masked): its field starts empty, and left
 *  empty it is left out, so the server applies the default. Numbers as the API wrote them
 *  (json.ts): 2**63 inside an array is not rounded to 9223372036854776000. */
export function initialValues(params: Record<string, ParameterSpec>, given: Record<string, unknown> = {}): FormValues {
  const values: FormValues = {};
  for (const [name, spec] of Object.entries(params)) {
    const d = name in given ? given[name] : spec.secret ? undefined : spec.default;
    if (redacted(spec, given, name)) values[name] = REDACTED; // kept, whatever its type
    else if (spec.type === "boolean") values[name] = d === true;
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
 *  array/object that is not the JSON it needs. A large integer is sent as written (json.ts). A
 *  kept secret (`kept`: its ******** left as shown) has none: the API keeps its value. */
export function fieldProblem(spec: ParameterSpec, text: string, kept = false): string | null {
  if (text.trim() === "" || kept) return null;
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
 *  unticked) is left out: the re-run gets what the old run got, not a value nobody gave. A
 *  secret left as ******** is sent so, which the API reads as "keep the run's value". */
export function toParameters(params: Record<string, ParameterSpec>, values: FormValues,
  { given }: { given?: Record<string, unknown> } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const prefilled = given ? initialValues(params, given) : {};
  for (const [name, spec] of Object.entries(params)) {
    const v = values[name];
    if (given && !(name in given) && v === prefilled[name]) continue;
    if (v === REDACTED && redacted(spec, given, name)) {
      out[name] = REDACTED;
      continue;
    }
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
export function hasFieldProblem(params: Record<string, ParameterSpec>, values: FormValues, kept?: Kept): boolean {
  return Object.entries(params).some(([n, s]) =>
    typeof values[n] === "string" && fieldProblem(s, values[n] as string, isKept(kept, n, values[n])) !== null);
}

/** The API's 422 problems split into those about a field (path `<prefix>.<field>…`, e.g.
 *  `parameters.times`, `response.ticket` or `parameters["db.host"]`), shown next to it with the
 *  rest of the path (`port: 0 is less than…` for `parameters.server.port`), and the others. */
export function problemsByField(details: Problem[], prefix: string, params: Record<string, ParameterSpec>):
  { byField: Record<string, string[]>; rest: Problem[] } {
  const byField: Record<string, string[]> = {};
  const rest = details.filter((d) => {
    const [head, name, ...inner] = parsePath(d.path ?? "") ?? [];
    if (head !== prefix || typeof name !== "string" || !Object.hasOwn(params, name)) return true;
    (byField[name] ??= []).push(inner.length > 0 ? `${formatPath(inner)}: ${d.message}` : d.message);
    return false;
  });
  return { byField, rest };
}

/** A bound as written in the schema, integral ones without a fraction (the API may send 1.0). */
function bound(n: unknown): string {
  const f = Number(n);
  return Number.isSafeInteger(f) ? String(f) : String(n);
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
  kept?: Kept; // a re-run's redacted secrets
}

/** The form's fields. Each input is named by its parameter's name alone; its type, bounds,
 *  description and problems describe it (aria-describedby), so a screen reader does not read
 *  "timesinteger · ≥ 1" as its name. An invalid field has aria-invalid: `focusFirstInvalid`.
 *  Problems are not alerts: a refused submit focuses the field (its description says them), and
 *  one found while typing is announced when the field is left. */
export function ParamForm({ params, values, onChange, errors = {}, idPrefix = "param", empty = "This action takes no parameters.", kept }: Props) {
  const names = Object.keys(params);
  if (names.length === 0) return <p className="muted">{empty}</p>;
  const set = (name: string, value: string | boolean) => onChange({ ...values, [name]: value });
  return (
    <div className="form-grid">
      {names.map((name) => {
        const spec = params[name];
        const id = `${idPrefix}-${name}`;
        const value = values[name];
        const keeps = isKept(kept, name, value);
        const problems = [...(errors[name] ?? [])];
        const jp = typeof value === "string" ? fieldProblem(spec, value, keeps) : null;
        if (jp) problems.unshift(jp);
        const invalid = problems.length > 0;
        const common = {
          id, name, "aria-invalid": invalid, "aria-describedby": `${id}-type ${id}-help`,
          required: !!spec.required, "aria-required": !!spec.required,
          // Said once, politely, when the field is left: as alerts they fired on every keystroke.
          onBlur: () => { if (jp) announce(`${name}: ${jp}`); },
        };
        let input;
        if (spec.type === "boolean" && kept?.names.has(name)) {
          // A checkbox has no "as it was": keep, or say which.
          input = (
            <select {...common} value={String(value)}
              onChange={(e) => set(name, e.target.value === REDACTED ? REDACTED : e.target.value === "true")}>
              <option value={REDACTED}>{`${REDACTED} (kept from run ${kept.from})`}</option>
              <option value="true">true</option>
              <option value="false">false</option>
            </select>
          );
        } else if (spec.enum && spec.enum.length > 0 && !keeps) {
          input = (
            <select {...common} value={String(value ?? "")} onChange={(e) => set(name, e.target.value)}>
              {!spec.required || value === "" ? <option value="">{placeholderOf(spec) ?? "—"}</option> : null}
              {spec.enum.map((e) => <option key={String(e)} value={String(e)}>{String(e)}</option>)}
            </select>
          );
        } else if (spec.type === "boolean") {
          // Unticked is an answer (false): a checkbox is never "required" to be ticked.
          input = <input {...common} required={false} aria-required={undefined} type="checkbox" checked={value === true}
            onChange={(e) => set(name, e.target.checked)} />;
        } else if (spec.type === "array" || spec.type === "object") {
          input = (
            <textarea {...common} className="json-editor" rows={4} spellCheck={false}
              value={String(value ?? "")} placeholder={spec.type === "array" ? "[ ]" : "{ }"}
              onChange={(e) => set(name, e.target.value)} />
          );
        } else {
          const numeric = spec.type === "integer" || spec.type === "number";
          input = (
            <input {...common} type={spec.secret ? "password" : "text"}
              inputMode={numeric ? (spec.type === "integer" ? "numeric" : "decimal") : undefined}
              autoComplete={spec.secret ? "new-password" : "off"} value={String(value ?? "")}
              placeholder={placeholderOf(spec)} onChange={(e) => set(name, e.target.value)} />
          );
        }
        const range = [spec.minimum != null ? `≥ ${bound(spec.minimum)}` : null, spec.maximum != null ? `≤ ${bound(spec.maximum)}` : null]
          .filter(Boolean).join(", ");
        return (
          <div className={`field${invalid ? " invalid" : ""}`} key={name} data-field={name}>
            <div className="label">
              <label htmlFor={id}>{name}</label>
              {spec.required && <span className="required" title="required" aria-hidden="true"> *</span>}
              <span className="type" id={`${id}-type`}>{spec.type}{spec.secret ? " · secret" : ""}{range ? ` · ${range}` : ""}</span>
            </div>
            {input}
            <div id={`${id}-help`} className="help">
              {spec.description && <span>{spec.description}</span>}
              {keeps && spec.type !== "boolean" && <span className="kept-hint">kept from run {kept!.from}; type to replace</span>}
              {problems.map((p, i) => <span key={i} className="field-error">{p}</span>)}
            </div>
          </div>
        );
      })}
    </div>
  );
}

/** Move focus to the first field marked invalid in `root` (after a refused submit), so a
 *  keyboard or screen reader user lands on what to fix; false when there is none. */
export function focusFirstInvalid(root: HTMLElement | null): boolean {
  const field = root?.querySelector<HTMLElement>("[aria-invalid='true']");
  field?.focus();
  return !!field;
}
