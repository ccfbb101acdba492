// The execution page's task table: every attempt and with_items item of each task, nested
// workflows expandable in place, what a task waits for, and the tasks a re-run kept.
import { useMemo, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { api } from "../api";
import { duration, when } from "../format";
import { useLoad } from "../hooks";
import { TERMINAL, type Execution, type Page, type WaitingTask } from "../types";
import { Empty, ErrorBanner, StatusBadge } from "./common";
import { TerminalText } from "./TerminalText";

const REFRESH_MS = 1000;

/** Dispatch order: a record's `created` is its dispatch. Ids come from blocks reserved ahead,
 *  so a retry may have a smaller id than the attempt it retries. */
export function runOrder(a: Execution, b: Execution): number {
  return a.created < b.created ? -1 : a.created > b.created ? 1 : a.id - b.id;
}

/** The latest attempt of each task, by task name. */
export function latest(rows: Execution[], name: string): Execution | undefined {
  return rows.filter((r) => r.workflow_task?.task_name === name).sort((a, b) => runOrder(b, a))[0];
}

/** A slice of a with_items of more than 500 items: a nested run of the items [start, end). */
export function spanOf(row: Execution): [number, number] | null {
  const span = row.workflow_task?.items_span;
  return Array.isArray(span) && span.length === 2 ? span : null;
}

/** An item or a slice of items: a part of a with_items task, not an attempt of the task. */
export function isUnit(row: Execution): boolean {
  return row.workflow_task?.task_index != null || spanOf(row) !== null;
}

/** "items 500–999": a slice's items as a person counts them (the span's end is not one). */
export function spanText([start, end]: [number, number]): string {
  return `items ${start}–${end - 1}`;
}

/** A task's status across its attempts/items: running wins, then failure, then the latest.
 *  Items (and slices of items) count each: one failed item fails the task, whichever ran last. */
export function groupStatus(rows: Execution[]): string {
  const open = rows.find((r) => !TERMINAL.has(r.status));
  if (open) return open.status;
  const items = rows.some(isUnit);
  if (items) {
    const lastRun = latestAttempts(rows);
    const bad = lastRun.find((r) => r.status !== "completed");
    return bad ? bad.status : "completed";
  }
  return [...rows].sort((a, b) => runOrder(b, a))[0]?.status ?? "pending";
}

/** Its last attempt failed, yet the workflow still runs the task: a retry is due (its `delay`).
 * The failed attempt's own status read as if the task had failed. */
function retrying(attempts: Execution[], stillRunning: boolean | undefined): boolean {
  const status = groupStatus(attempts);
  return !!stillRunning && TERMINAL.has(status) && status !== "completed" && !attempts.some(isUnit);
}

/** For with_items: the last attempt of every item (of every slice, for a large one). */
export function latestAttempts(rows: Execution[]): Execution[] {
  const byItem = new Map<number, Execution>();
  for (const r of rows) {
    const i = r.workflow_task?.task_index ?? spanOf(r)?.[0] ?? -1;
    const cur = byItem.get(i);
    if (!cur || runOrder(r, cur) > 0) byItem.set(i, r);
  }
  return [...byItem.values()];
}

/** The inquiry a task still waits for, if any (-1 means its wait_for named no inquiry id). */
export function waitingFor(row: Execution): number | null {
  return !TERMINAL.has(row.status) && row.waits_for_inquiry && row.waits_for_inquiry > 0 ? row.waits_for_inquiry : null;
}

/** How a task waiting for a timer reads: `delayed` (its `delay` before it first runs) or
 *  `retrying` (the delay before its next attempt): no process runs it, so not `running`. */
export function waitStatus(wait: WaitingTask): "delayed" | "retrying" {
  return wait.reason === "delay" ? "delayed" : "retrying";
}

/** When it goes on: "until 12:03:04", "attempt 2 at 12:03:04" (the times the table shows). */
export function waitDetail(wait: WaitingTask): string {
  if (wait.reason === "delay") return `delayed until ${when(wait.until)}`;
  const item = wait.task_index != null ? `item ${wait.task_index}, ` : "";
  return `${item}attempt ${wait.retry_count + 1} at ${when(wait.until)}`;
}

/** A task the run failed that has no record (it failed before it started), with the run's error. */
export interface Unrecorded { name: string; action: string; error: string | null }

interface TableProps {
  rows: Execution[]; parentWorkflowId: string | null; selected: number | null; onSelect: (id: number) => void;
  depth?: number;
  running?: Set<string>; // tasks the workflow still runs (more items may come), when known
  kept?: ReadonlySet<number>; // rows a re-run kept from the run it re-runs (they belong to that run)
  unrecorded?: Unrecorded[];
  waiting?: WaitingTask[]; // tasks that wait for a timer (a delay, a retry's delay), and until when
}

export function TaskTable({ rows, parentWorkflowId, selected, onSelect, depth = 0, running, kept, unrecorded = [],
  waiting = [] }: TableProps) {
  const groups = useMemo(() => {
    const byName = new Map<string, Execution[]>();
    for (const r of [...rows].sort(runOrder)) {
      const name = r.workflow_task?.task_name ?? `#${r.id}`;
      const group = byName.get(name);
      if (group) group.push(r); else byName.set(name, [r]);
    }
    return [...byName.entries()];
  }, [rows]);
  const waits = new Map(waiting.map((w) => [w.task, w]));
  const recorded = new Set(groups.map(([name]) => name));
  const notYet = waiting.filter((w) => !recorded.has(w.task)); // a delay before its first run
  if (rows.length === 0 && unrecorded.length === 0 && notYet.length === 0) return <Empty>No task has started yet.</Empty>;
  // A nested table (a nested workflow's tasks) has the same columns: named for a screen reader,
  // not shown again.
  const table = (
    <table className="table tasks" data-testid={depth === 0 ? "task-table" : undefined}>
      <thead className={depth > 0 ? "sr-head" : undefined}>
        <tr>{COLUMNS.map((c) => <th key={c} scope="col">{depth > 0 ? <span className="sr-only">{c}</span> : c}</th>)}</tr>
      </thead>
      <tbody>
        {groups.map(([name, attempts]) => {
          const slices = attempts.filter((a) => spanOf(a) !== null);
          const runCount = new Set(attempts.map((a) => a.workflow_task?.iteration ?? 1)).size;
          const runs = runCount > 1;
          const items = attempts.filter((a) => a.workflow_task?.task_index != null);
          const lastRuns = latestAttempts(items);
          const done = lastRuns.filter((a) => TERMINAL.has(a.status)).length;
          const failed = lastRuns.filter((a) => TERMINAL.has(a.status) && a.status !== "completed").length;
          // The item count is known only once the task has ended: items are recorded as they start.
          const open = done < lastRuns.length || (running?.has(name) ?? !TERMINAL.has(groupStatus(attempts)));
          const wait = waits.get(name);
          const status = wait && TERMINAL.has(groupStatus(attempts)) ? waitStatus(wait)
            : retrying(attempts, running?.has(name)) ? "retrying" : groupStatus(attempts);
          return [
            <tr key={`g-${name}`} className="group-row" data-task-group={name}>
              <td colSpan={2}><strong>{name}</strong>
                {slices.length > 0 && <SliceProgress slices={slices} open={running?.has(name) ?? !TERMINAL.has(groupStatus(attempts))} />}
                {runs && <span className="progress" data-testid="runs"> · {runCount} runs</span>}
                {items.length > 0 && <span className="progress" data-testid="items-progress">
                  {" "}· {open ? `items: ${done} done, ${lastRuns.length - done} running so far`
                    : `items ${done}/${lastRuns.length} done`}{failed ? `, ${failed} failed` : ""}
                </span>}
              </td>
              <td><StatusBadge status={status} />
                {wait && <div className="status-detail" data-testid="wait-detail">{waitDetail(wait)}</div>}</td>
              <td className="ref">{attempts[0].action_ref}</td>
              <td colSpan={2} />
            </tr>,
            ...attempts.map((a) => (
              <AttemptRow key={a.id} row={a} parentWorkflowId={parentWorkflowId} selected={selected}
                onSelect={onSelect} depth={depth} kept={kept?.has(a.id) ?? false} runs={runs} />
            )),
          ];
        })}
        {notYet.map((w) => <WaitingRow key={`w-${w.task}`} wait={w} />)}
        {unrecorded.map((u) => <UnrecordedRow key={`u-${u.name}`} task={u} />)}
      </tbody>
    </table>
  );
  // Wide on a narrow screen: it scrolls inside its card, not the whole page.
  return depth === 0 ? <div className="table-scroll">{table}</div> : table;
}

const COLUMNS = ["Task", "Attempt / item", "Status", "Action", "Started", "Duration"];

function WaitingRow({ wait }: { wait: WaitingTask }) {
  return (
    <tr className="group-row" data-task-group={wait.task}>
      <td colSpan={2}><strong>{wait.task}</strong></td>
      <td>
        <StatusBadge status={waitStatus(wait)} />
        <div className="status-detail" data-testid="wait-detail">{waitDetail(wait)}</div>
      </td>
      <td colSpan={3} />
    </tr>
  );
}

function UnrecordedRow({ task }: { task: Unrecorded }) {
  return (
    <tr className="group-row" data-task-group={task.name}>
      <td colSpan={2}><strong>{task.name}</strong></td>
      <td>
        <StatusBadge status="failed" />
        <div className="status-detail" data-testid="status-detail">
          failed before it started (no record){task.error ? `: ${task.error}` : ""}
        </div>
      </td>
      <td className="ref">{task.action}</td>
      <td colSpan={2} />
    </tr>
  );
}

/** What a row of a task is: "item 3 · attempt 2", "run 37 · attempt 1" (one of a loop's runs),
 *  "items 500–999" (a slice: a nested run of those items, not an attempt). */
export function attemptLabel(row: Execution, runs: boolean): string {
  const wt = row.workflow_task;
  const span = spanOf(row);
  return [span ? spanText(span) : wt?.task_index != null ? `item ${wt.task_index}` : null,
    runs || (wt?.iteration ?? 1) > 1 ? `run ${wt?.iteration ?? 1}` : null,
    span ? null : `attempt ${(wt?.retry_count ?? 0) + 1}`].filter(Boolean).join(" · ");
}

function AttemptRow({ row, parentWorkflowId, selected, onSelect, depth, kept, runs }: {
  row: Execution; parentWorkflowId: string | null; selected: number | null; onSelect: (id: number) => void; depth: number;
  kept: boolean; runs: boolean;
}) {
  const [open, setOpen] = useState(false);
  const nested = row.workflow_id !== null && row.workflow_id !== parentWorkflowId && !kept;
  const what = attemptLabel(row, runs);
  const inquiry = waitingFor(row);
  return (
    <>
      <tr className={`attempt-row${selected === row.id ? " selected" : ""}${kept ? " kept" : ""}`} data-execution={row.id}>
        <td style={{ paddingLeft: `${1 + depth * 1.5}rem` }}>
          {nested && (
            <button className="toggle" aria-expanded={open} aria-label={`${open ? "Collapse" : "Expand"} nested workflow ${row.id}`}
              onClick={() => setOpen(!open)}>{open ? "▾" : "▸"}</button>
          )}
          {/* The selected row is marked by more than its colour. */}
          <button className="link id" onClick={() => onSelect(row.id)}
            aria-current={selected === row.id ? "true" : undefined}>#{row.id}</button>
          {kept && (
            <Link className="chip kept" to={`/executions/${row.parent}?task=${row.id}`}
              title={`Not run again: this result is #${row.parent}'s`}>kept from #{row.parent}</Link>
          )}
        </td>
        <td className="muted">{what}</td>
        <td>
          <StatusBadge status={row.status} />
          {(row.status_detail || inquiry) && (
            <div className="status-detail" data-testid="status-detail">
              {row.status_detail && <TerminalText text={row.status_detail} />}
              {inquiry && <> · <Link to={`/inquiries/${inquiry}`}>inquiry #{inquiry}</Link></>}
            </div>
          )}
        </td>
        <td><Link className="ref" to={`/executions/${row.id}`}>{row.action_ref}</Link></td>
        <td>{when(row.started_at)}</td>
        <td className="num">{duration(row.started_at, row.ended_at)}</td>
      </tr>
      {open && (
        <tr className="nested-row"><td colSpan={6}>
          <NestedTasks row={row} selected={selected} onSelect={onSelect} depth={depth + 1} />
        </td></tr>
      )}
    </>
  );
}

function NestedTasks({ row, selected, onSelect, depth }: { row: Execution; selected: number | null; onSelect: (id: number) => void; depth: number }) {
  const children = useLoad(() => api<Page<Execution>>("/executions", { query: { parent: row.id, per_page: 1000 } }),
    [row.id], { everyMs: REFRESH_MS, live: () => !TERMINAL.has(row.status) });
  if (children.error) return <ErrorBanner error={children.error} />;
  if (!children.data) return <p className="muted">Loading…</p>;
  return <TaskTable rows={children.data.items} parentWorkflowId={row.workflow_id} selected={selected} onSelect={onSelect} depth={depth} />;
}

/** How far the items of a with_items of more than 500 items are: each slice's items are the
 *  records of its nested run, counted there (the workflow view lists the slices alone). */
function SliceProgress({ slices, open }: { slices: Execution[]; open: boolean }) {
  const counts = useSliceItems(slices);
  if (!counts) return null;
  const total = slices.reduce((n, s) => n + ((spanOf(s)?.[1] ?? 0) - (spanOf(s)?.[0] ?? 0)), 0);
  return (
    <span className="progress" data-testid="items-progress">
      {" "}· {open ? `items: ${counts.done} done so far` : `items ${counts.done}/${total} done`}
      {counts.failed ? `, ${counts.failed} failed` : ""}
    </span>
  );
}

export interface SliceItems { done: number; failed: number }

/** The items of `slices` that have ended and failed: a slice that completed ended every item
 *  well (nothing to read); a failed one is read once (see failedItems); a running one is
 *  counted every REFRESH_MS (a retried item counts each attempt until its slice ends). */
export function useSliceItems(slices: Execution[]): SliceItems | undefined {
  const key = slices.map((s) => `${s.id}:${s.status}`).join(",");
  const cache = useRef(new Map<string, SliceItems>());
  const loaded = useLoad(async () => {
    const each = await Promise.all(slices.map(async (s) => {
      const at = `${s.id}:${s.status}`;
      const known = cache.current.get(at);
      if (known) return known;
      const counted = await sliceItems(s);
      if (TERMINAL.has(s.status)) cache.current.set(at, counted);
      return counted;
    }));
    return each.reduce((a, b) => ({ done: a.done + b.done, failed: a.failed + b.failed }), { done: 0, failed: 0 });
  }, [key], { everyMs: REFRESH_MS, live: () => slices.some((s) => !TERMINAL.has(s.status)) });
  return loaded.data;
}

const ENDED = [...TERMINAL].join(",");
const FAILED_STATUSES = "failed,timeout";

async function sliceItems(slice: Execution): Promise<SliceItems> {
  const span = spanOf(slice) ?? [0, 0];
  if (slice.status === "completed") return { done: span[1] - span[0], failed: 0 };
  if (TERMINAL.has(slice.status)) return { done: span[1] - span[0], failed: (await failedItems(slice)).length };
  const count = async (status: string) => (await api<Page<Execution>>("/executions",
    { query: { parent: slice.id, status, per_page: 1 } })).pagination.total_items;
  const [done, failed] = await Promise.all([count(ENDED), count(FAILED_STATUSES)]);
  return { done, failed };
}

/** The items that failed an ended slice, by index: the last attempt of each of its items (its
 *  nested run's records, read page by page) that did not complete. */
export async function failedItems(slice: Execution): Promise<Execution[]> {
  const rows: Execution[] = [];
  let after: number | null | undefined;
  do {
    const page = await api<Page<Execution>>("/executions",
      { query: { parent: slice.id, per_page: 1000, ...(after ? { after } : {}) } });
    rows.push(...page.items);
    after = page.pagination.has_next ? page.pagination.next_after : null;
  } while (after);
  return latestAttempts(rows).filter((r) => FAILED_STATUSES.split(",").includes(r.status))
    .sort((a, b) => (a.workflow_task?.task_index ?? 0) - (b.workflow_task?.task_index ?? 0));
}
