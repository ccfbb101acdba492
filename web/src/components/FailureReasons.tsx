// Under a failed workflow's error ("Workflow failed: 1 task(s) failed: process"), each failed
// task's own error, as the CLI prints it: the reason was a click into the task away.
import { Link } from "react-router-dom";
import { api } from "../api";
import { useLoad } from "../hooks";
import type { Execution, Item, WorkflowExecution } from "../types";
import { StatusBadge } from "./common";
import { latestAttempts } from "./TaskTable";

const MAX_REASONS = 5;
const MAX_CHARS = 400; // the whole of it is one click away, on the task
const STDERR_LINES = 5;
const FAILED: ReadonlySet<string> = new Set(["failed", "timeout"]);

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
      {rows.slice(0, MAX_REASONS).map((r) => <Reason key={r.id} row={r} />)}
      {rows.length > MAX_REASONS && <li className="muted">and {rows.length - MAX_REASONS} more: see the tasks below</li>}
    </ul>
  );
}

function Reason({ row: listed }: { row: Execution }) {
  // The workflow view leaves a large result out: read the task whole for its error.
  const partial = (listed.omitted ?? []).includes("result");
  const whole = useLoad(() => (partial ? api<Item<Execution>>(`/executions/${listed.id}`).then((b) => b.data)
    : Promise.resolve(undefined)), [listed.id, partial]);
  const row = whole.data ?? listed;
  const wt = row.workflow_task;
  const reason = reasonOf(row.result);
  return (
    <li data-reason={wt?.task_name}>
      <strong>{wt?.task_name}</strong>
      {wt?.task_index != null && <> item {wt.task_index}</>} (attempt {(wt?.retry_count ?? 0) + 1}, <span className="ref">{row.action_ref}</span>,{" "}
      <Link to={`?task=${row.id}`}>#{row.id}</Link>) <StatusBadge status={row.status} />
      {reason && <pre className="reason">{reason}</pre>}
    </li>
  );
}
