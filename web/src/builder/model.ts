// The builder's workflow: the workflow file as a plain object, kept in step with its YAML text.
// Unknown keys survive both ways; node positions live in each task's `__chart_meta__`, as the
// original's editor keeps them (the loader ignores that key).
import YAML, { LineCounter, isMap, isSeq } from "yaml";
import type { ParameterSpec, TaskDef, Transition, WorkflowDefinition } from "../types";

export interface Position { x: number; y: number }
export type TaskDoc = TaskDef & { __chart_meta__?: { position?: Position } & Record<string, unknown> } & Record<string, unknown>;
export type Doc = { version?: string; description?: string; tasks?: TaskDoc[] } & Record<string, unknown>;

export const CHART = "__chart_meta__";
const TASK_KEY_ORDER = ["name", "action", "input", "join", "with_items", "batch_size", "concurrency",
  "retry", "timeout", "delay", "next", CHART];
const LEGACY = ["on_success", "on_failure", "on_complete", "on_timeout", "decision", "publish"];

export function emptyDoc(): Doc {
  return { version: "1.0", tasks: [] };
}

export function tasksOf(doc: Doc): TaskDoc[] {
  return Array.isArray(doc.tasks) ? doc.tasks.filter((t): t is TaskDoc => !!t && typeof t === "object" && typeof t.name === "string") : [];
}

export function toYaml(doc: Doc): string {
  return YAML.stringify(doc, { lineWidth: 0 });
}

/** The YAML text after an edit made in the graph or the panels: the previous text with only what
 * changed rewritten, so its comments, key order and flow style (`do: [b]`) stay as written.
 * Falls back to writing the whole file when the previous text does not parse. */
export function patchYaml(previous: string, before: Doc, after: Doc): string {
  const document = YAML.parseDocument(previous);
  if (document.errors.length || !isMap(document.contents)) return toYaml(after);
  patchNode(document, [], before, after);
  return document.toString({ lineWidth: 0, flowCollectionPadding: false });
}

type Path = (string | number)[];

function patchNode(document: YAML.Document, path: Path, before: unknown, after: unknown): void {
  if (sameData(before, after)) return;
  if (isRecord(before) && isRecord(after)) {
    for (const key of Object.keys(before)) if (!(key in after)) document.deleteIn([...path, key]);
    for (const [key, value] of Object.entries(after)) {
      if (value === undefined) continue;
      if (key in before) patchNode(document, [...path, key], before[key], value);
      else document.setIn([...path, key], document.createNode(value));
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && isSeq(document.getIn(path, true))) {
    patchList(document, path, before, after);
    return;
  }
  document.setIn(path, document.createNode(after));
}

/** A list changed. Items with a `name` (tasks) are matched by it: what went is deleted, what came
 * is inserted where it stands, the rest patched in place (a reorder writes the list anew). Other
 * lists are patched item by item when their length stayed, else written anew. */
function patchList(document: YAML.Document, path: Path, before: unknown[], after: unknown[]): void {
  const nameOf = (item: unknown) => (isRecord(item) && typeof item.name === "string" ? item.name : undefined);
  const named = [...before, ...after].every((item) => nameOf(item) !== undefined);
  if (!named) {
    if (before.length === after.length) after.forEach((item, i) => patchNode(document, [...path, i], before[i], item));
    else document.setIn(path, document.createNode(after));
    return;
  }
  // The first item(s) of an empty list, written anew: `tasks: []` (a new workflow) stayed a flow
  // list, every task on one line, so each problem's line named the first task.
  if (before.length === 0) {
    document.setIn(path, document.createNode(after));
    return;
  }
  const afterNames = after.map(nameOf);
  const surviving = before.filter((item) => afterNames.includes(nameOf(item)));
  const order = (list: unknown[]) => list.map(nameOf).filter((n) => surviving.some((s) => nameOf(s) === n)).join("\n");
  if (order(surviving) !== order(after)) {
    document.setIn(path, document.createNode(after));
    return;
  }
  for (let i = before.length - 1; i >= 0; i--) {
    if (!afterNames.includes(nameOf(before[i]))) document.deleteIn([...path, i]);
  }
  const seq = document.getIn(path, true) as YAML.YAMLSeq;
  let next = 0;  // the next surviving item not yet met
  after.forEach((item, i) => {
    if (next < surviving.length && nameOf(surviving[next]) === nameOf(item)) {
      patchNode(document, [...path, i], surviving[next], item);
      next += 1;
    } else {
      seq.items.splice(i, 0, document.createNode(item) as (typeof seq.items)[number]);
    }
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

function sameData(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface ParseOutcome { doc?: Doc; error?: { line: number; column: number; message: string } }

export function fromYaml(text: string): ParseOutcome {
  const lc = new LineCounter();
  const parsed = YAML.parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  if (parsed.errors.length) {
    const e = parsed.errors[0];
    const pos = lc.linePos(e.pos[0]);
    return { error: { line: pos.line, column: pos.col, message: e.message.split("\n")[0] } };
  }
  const value = parsed.toJS();
  if (value === null || value === undefined) return { doc: {} };
  if (typeof value !== "object" || Array.isArray(value)) {
    return { error: { line: 1, column: 1, message: "a workflow file must be a mapping with version and tasks" } };
  }
  return { doc: value as Doc };
}

/** 1-based [first, last] line of each task in `text`, by task index. */
export function taskLines(text: string): [number, number][] {
  const lc = new LineCounter();
  const parsed = YAML.parseDocument(text, { lineCounter: lc });
  const tasks = isMap(parsed.contents) ? parsed.contents.get("tasks", true) : null;
  if (!isSeq(tasks)) return [];
  return tasks.items.map((item) => {
    const range = (item as { range?: [number, number, number] }).range;
    if (!range) return [0, 0];
    return [lc.linePos(range[0]).line, lc.linePos(Math.max(range[1] - 1, range[0])).line];
  });
}

/** The workflow file as the builder would write it from a stored (normalized) definition. */
export function docFromDefinition(def: WorkflowDefinition, positions: Record<string, Position> = {}): Doc {
  const doc: Doc = { version: def.version };
  if (def.description) doc.description = def.description;
  if (def.vars && Object.keys(def.vars).length) doc.vars = def.vars;
  const extra = def as unknown as Record<string, unknown>;
  if (extra.cancellation_policy && extra.cancellation_policy !== "allow_finish") doc.cancellation_policy = extra.cancellation_policy;
  if (extra.max_iterations && extra.max_iterations !== 1000) doc.max_iterations = extra.max_iterations;
  doc.tasks = def.tasks.map((t) => {
    const task: TaskDoc = { name: t.name, action: t.action };
    if (t.input && Object.keys(t.input).length) task.input = t.input;
    if (t.join != null) task.join = t.join;
    if (t.with_items) task.with_items = t.with_items;
    if (t.batch_size != null) task.batch_size = t.batch_size;
    if (t.concurrency != null && t.concurrency !== 1) task.concurrency = t.concurrency;
    if (t.retry) task.retry = Object.fromEntries(Object.entries(t.retry).filter(([, v]) => v !== null));
    if (t.timeout != null) task.timeout = t.timeout;
    if (t.delay != null) task.delay = t.delay;
    if (t.next && t.next.length) {
      task.next = t.next.map((tr) => {
        const out: Transition = {};
        if (tr.when) out.when = tr.when;
        const publish = tr.publish as [string, unknown][] | undefined;
        if (publish && publish.length) out.publish = publish.map(([k, v]) => ({ [k]: v }));
        if (tr.do && (tr.do as string[]).length) out.do = tr.do;
        return out;
      });
    }
    if (positions[t.name]) task[CHART] = { position: positions[t.name] };
    return task;
  });
  if (def.output_map && Object.keys(def.output_map).length) doc.output_map = def.output_map;
  if (Array.isArray(extra.tags) && extra.tags.length) doc.tags = extra.tags;
  return doc;
}

export function usesLegacyForms(doc: Doc): boolean {
  return tasksOf(doc).some((t) => LEGACY.some((k) => k in t));
}

export function positionsOf(doc: Doc): Record<string, Position> {
  const out: Record<string, Position> = {};
  for (const t of tasksOf(doc)) {
    const p = t[CHART]?.position;
    if (p && typeof p.x === "number" && typeof p.y === "number") out[t.name] = { x: p.x, y: p.y };
  }
  return out;
}

/** A task with its keys in the conventional order (so the YAML reads naturally). */
export function ordered(task: TaskDoc): TaskDoc {
  const out: Record<string, unknown> = {};
  for (const k of TASK_KEY_ORDER) if (task[k] !== undefined) out[k] = task[k];
  for (const [k, v] of Object.entries(task)) if (!(k in out) && v !== undefined) out[k] = v;
  return out as TaskDoc;
}

export function withTasks(doc: Doc, tasks: TaskDoc[]): Doc {
  const out: Doc = {};
  let placed = false;
  for (const [k, v] of Object.entries(doc)) {
    if (k === "tasks") { out.tasks = tasks; placed = true; } else out[k] = v;
  }
  if (!placed) out.tasks = tasks;
  return out;
}

export function updateTask(doc: Doc, name: string, change: (t: TaskDoc) => TaskDoc): Doc {
  return withTasks(doc, tasksOf(doc).map((t) => (t.name === name ? ordered(clean(change(t))) : t)));
}

/** Drop keys set to undefined/null/"" (an emptied form field removes its key). */
function clean(task: TaskDoc): TaskDoc {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(task)) if (v !== undefined && v !== null && v !== "") out[k] = v;
  return out as TaskDoc;
}

export function uniqueName(doc: Doc, base: string): string {
  const taken = new Set(tasksOf(doc).map((t) => t.name));
  const stem = base.replace(/[^A-Za-z0-9_]/g, "_").replace(/^([^A-Za-z_])/, "_$1") || "task";
  if (!taken.has(stem)) return stem;
  for (let i = 2; ; i++) if (!taken.has(`${stem}_${i}`)) return `${stem}_${i}`;
}

export function addTask(doc: Doc, action: string, at: Position): [Doc, string] {
  const name = uniqueName(doc, action.split(".").pop() ?? "task");
  return [withTasks(doc, [...tasksOf(doc), ordered({ name, action, [CHART]: { position: at } })]), name];
}

export function removeTask(doc: Doc, name: string): Doc {
  const tasks = tasksOf(doc).filter((t) => t.name !== name).map((t) => ({
    ...t,
    next: t.next?.map((tr) => ({ ...tr, do: asList(tr.do).filter((d) => d !== name) })),
  })).map((t) => ordered(pruneNext(t)));
  return withTasks(doc, tasks);
}

export function renameTask(doc: Doc, from: string, to: string): Doc {
  return withTasks(doc, tasksOf(doc).map((t) => ordered({
    ...t,
    name: t.name === from ? to : t.name,
    next: t.next?.map((tr) => (tr.do == null ? tr : { ...tr, do: asList(tr.do).map((d) => (d === from ? to : d)) })),
  })));
}

export function connect(doc: Doc, source: string, target: string, when: string | null = "{{ succeeded() }}"): Doc {
  return updateTask(doc, source, (t) => {
    const next = [...(t.next ?? [])];
    const i = next.findIndex((tr) => (tr.when ?? null) === when && !tr.publish);
    if (i >= 0) {
      const targets = asList(next[i].do);
      if (!targets.includes(target)) next[i] = { ...next[i], do: [...targets, target] };
    } else {
      next.push(when ? { when, do: [target] } : { do: [target] });
    }
    return { ...t, next };
  });
}

export function disconnect(doc: Doc, source: string, transition: number, target: string): Doc {
  return updateTask(doc, source, (t) => pruneNext({
    ...t,
    next: (t.next ?? []).map((tr, i) => (i === transition ? { ...tr, do: asList(tr.do).filter((d) => d !== target) } : tr)),
  }));
}

export function asList(v: Transition["do"]): string[] {
  if (v === null || v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

/** A transition left with nothing to do, no condition and nothing published goes. */
function pruneNext(t: TaskDoc): TaskDoc {
  const next = (t.next ?? []).map((tr) => {
    const out: Transition = { ...tr };
    if (asList(tr.do).length === 0) delete out.do;
    return out;
  }).filter((tr) => tr.do || tr.publish || tr.when);
  const out = { ...t, next: next.length ? next : undefined };
  return out;
}

/** The text sent to POST /workflows/validate: the workflow plus, after it (so line numbers of the
 *  workflow part stay the same), the action's parameters, so `parameters.x` references are checked. */
export function validationText(text: string, doc: Doc | undefined, params: Record<string, ParameterSpec>): string {
  if (!doc || "parameters" in doc) return text;
  const block = YAML.stringify({ parameters: params }, { lineWidth: 0 });
  return `${text.endsWith("\n") ? text : `${text}\n`}${block}`;
}

/** A form field's text as the value to store: a string for string parameters, else YAML
 *  (so `5` is a number, `true` a boolean and `{{ x }}` stays a template). */
export function fieldValue(type: string, text: string): unknown {
  if (text === "") return undefined;
  if (type === "string" || /\{\{.*\}\}/.test(text)) return text;
  // A number being typed: "-" alone is YAML's list of one null, not the start of -1.
  if ((type === "integer" || type === "number") && /^[-+]?\.?$/.test(text)) return text;
  try {
    return YAML.parse(text);
  } catch {
    return text;
  }
}

export function fieldText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
