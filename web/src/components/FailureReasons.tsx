// Under a failed workflow's error ("Workflow failed: 1 task(s) failed: process"), each failed
// task's own error, as the CLI prints it: the reason was a click into the task away.
import { Link } from "react-router-dom";
import { api } from "../api";
import { useLoad } from "../hooks";
import type { Execution, Item, Page, WorkflowExecution } from "../types";
import { StatusBadge } from "./common";
import { failedItems, latestAttempts, spanOf } from "./TaskTable";
import { TerminalText } from "./TerminalText";

const MAX_REASONS = 5;
const MAX_CHARS = 400; // the whole of it is one click away, on the task
const STDERR_LINES = 5;
const FAILED: ReadonlySet<string> = new Set(["failed", "timeout"]);
const MAX_DESCENT = 25; // nested runs followed down (nesting stops at 20)

/** The attempts that failed the run: the last attempt of each task (each item, for with_items)
 *  the run names as failed; a run that names none (an older record): every failed one. */
function failedAttempts(view: WorkflowExecution): Execution[] {
  const named = new Set(view.failed_tasks.map(String));
  const byTask = new Map<string, Execution[]>();
  for (const r of view.tasks) {
    const name = r.workflow_task?.task_name ?? "";
    if (named.size === 0 || named.has(name)) byTask.set(name, [...(byTask.get(name) ?? []), r]);
  }
  return [...byTask.values()].flatMap(latestAttempts).filter((r) => FAILED.has(r.status));
}

/** What a task's result says went wrong: its error, else the tail of its stderr. */
function reasonOf(result: unknown): string | null {
  if (!result || typeof result !== "object" || Array.isArray(result)) return null;
  const { error, stderr } = result as Record<string, unknown>;
  if (typeof error === "string" && error.trim()) {
    return error.length > MAX_CHARS ? `${error.slice(0, MAX_CHARS)}…` : error;
  }
  if (typeof stderr === "string" && stderr.trim()) return stderr.trimEnd().split("\n").slice(-STDERR_LINES).join("\n");
  return null;
}

export function FailureReasons({ view }: { view: WorkflowExecution }) {
  if (!FAILED.has(view.status)) return null;
  const rows = failedAttempts(view);
  if (rows.length === 0) return null;
  return (
    <ul className="failure-reasons" data-testid="failure-reasons">
      {rows.slice(0, MAX_REASONS).map((r) => spanOf(r) ? <SliceReasons key={r.id} slice={r} /> : <Reason key={r.id} row={r} />)}
      {rows.length > MAX_REASONS && <li className="muted">and {rows.length - MAX_REASONS} more: see the tasks below</li>}
    </ul>
  );
}

/** The task names a nested run's "Workflow failed: 1 task(s) failed: a, b" gives (none otherwise). */
function failedNames(result: unknown): string[] {
  const error = result && typeof result === "object" ? (result as Record<string, unknown>).error : null;
  const found = typeof error === "string" ? / task\(s\) failed: (.+)$/.exec(error) : null;
  return found ? found[1].split(",").map((n) => n.trim()).filter(Boolean) : [];
}

/** A failed nested workflow's task says only "Workflow failed: 1 task(s) failed: b": follow the
 *  failed tasks it names down to the one that is not a nested run, as the CLI does, keeping the
 *  way there (the reason, such as the nesting limit, was on a record 20 levels down). */
async function rootCause(listed: Execution): Promise<{ path: string[]; row: Execution }> {
  let row = (listed.omitted ?? []).includes("result")
    ? (await api<Item<Execution>>(`/executions/${listed.id}`)).data : listed;
  const path: string[] = [];
  for (let level = 0; level < MAX_DESCENT; level++) {
    const names = failedNames(row.result);
    if (names.length === 0) break;
    // Only the failed ones, however many tasks it ran (the first 100 of them missed later ones).
    const children = await api<Page<Execution>>("/executions",
      { query: { parent: row.id, status: [...FAILED].join(","), per_page: 1000 } });
    const below = children.items.filter((c) => names.includes(c.workflow_task?.task_name ?? ""));
    if (below.length === 0) break;
    // The first to fail, in creation order as the API lists (ids are reserved ahead: not run order).
    below.sort((a, b) => a.created.localeCompare(b.created) || a.id - b.id);
    const next = below[0];
    row = (next.omitted ?? []).includes("result") ? (await api<Item<Execution>>(`/executions/${next.id}`)).data : next;
    path.push(row.workflow_task?.task_name ?? "?");
  }
  return { path, row };
}

/** A failed slice of a with_items of more than 500 items (a nested run of 500 of them) failed
 *  by its items: those are named, with their errors, as a small with_items' are. */
function SliceReasons({ slice }: { slice: Execution }) {
  const items = useLoad(() => failedItems(slice), [slice.id]);
  if (!items.data || items.data.length === 0) return <Reason row={slice} />;
  return (<>
    {items.data.slice(0, MAX_REASONS).map((r) => <Reason key={r.id} row={r} />)}
    {items.data.length > MAX_REASONS && <li className="muted">and {items.data.length - MAX_REASONS} more failed
      items: see <Link to={`/executions/${slice.id}`}>#{slice.id}</Link></li>}
  </>);
}

function Reason({ row: listed }: { row: Execution }) {
  const cause = useLoad(() => rootCause(listed), [listed.id]);
  const row = cause.data?.row ?? listed;
  const wt = listed.workflow_task;
  const reason = reasonOf(row.result);
  return (
    <li data-reason={wt?.task_name}>
      <strong>{wt?.task_name}</strong>
      {wt?.task_index != null && <> item {wt.task_index}</>} (attempt {(wt?.retry_count ?? 0) + 1}, <span className="ref">{listed.action_ref}</span>,{" "}
      <Link to={`?task=${listed.id}`}>#{listed.id}</Link>) <StatusBadge status={listed.status} />
      {cause.data && cause.data.path.length > 0 && (
        <span className="muted" data-testid="cause-path"> → {cause.data.path.join(" → ")} (<span className="ref">{row.action_ref}</span>,{" "}
          <Link to={`/executions/${row.id}`}>#{row.id}</Link>)</span>)}
      {reason && <pre className="reason"><TerminalText text={reason} /></pre>}
    </li>
  );
}
