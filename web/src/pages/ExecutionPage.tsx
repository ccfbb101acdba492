// One execution: its graph filling in live, every task attempt, inputs and outputs, variables.
import { useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import "@xyflow/react/dist/style.css";
import "../graph.css";
import { Background, Controls, MarkerType, ReactFlow, type Edge } from "@xyflow/react";
import { api, ApiError, post } from "../api";
import { Empty, ErrorBanner, JsonBlock, Section, StatusBadge } from "../components/common";
import { useFlowNodes } from "../components/flow";
import { badgesOf, nodeTypes, type TaskNodeType } from "../components/TaskNode";
import { duration, when } from "../format";
import { edgesOf, layout } from "../graph";
import { useLoad } from "../hooks";
import { meta, temporalLink } from "../meta";
import { TERMINAL, type Execution, type Item, type Meta, type Page, type Workflow, type WorkflowExecution } from "../types";

const REFRESH_MS = 1000;

export function ExecutionPage() {
  const id = Number(useParams().id);
  const [params, setParams] = useSearchParams();
  const selected = params.get("task") ? Number(params.get("task")) : null;
  const select = (execId: number | null) => {
    const next = new URLSearchParams(params);
    if (execId === null) next.delete("task");
    else next.set("task", String(execId));
    setParams(next, { replace: true });
  };

  const live = (e: Execution | undefined) => !e || !TERMINAL.has(e.status);
  const exec = useLoad(() => api<Item<Execution>>(`/executions/${id}`).then((r) => r.data), [id],
    { everyMs: REFRESH_MS, live });
  const [isWorkflow, setIsWorkflow] = useState<boolean | null>(null);
  const wf = useLoad(async () => {
    try {
      const view = (await api<Item<WorkflowExecution>>(`/executions/${id}/workflow`)).data;
      setIsWorkflow(true);
      return view;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        setIsWorkflow(false);
        return undefined;
      }
      throw err;
    }
  }, [id], { everyMs: REFRESH_MS, live: (v) => v !== undefined && !TERMINAL.has(v.status) });
  const actionRef = exec.data?.action_ref;
  // Asked for as soon as the action is known, beside the workflow view (a plain action's 404 is
  // expected), rather than one round trip later.
  const definition = useLoad(async () => {
    if (!actionRef) return undefined;
    try {
      return (await api<Item<Workflow>>(`/workflows/${actionRef}`)).data;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }, [actionRef]);
  const [m, setMeta] = useState<Meta>();
  useEffect(() => { meta().then(setMeta).catch(() => undefined); }, []);

  const e = exec.data;
  if (exec.error && !e) return <div className="page"><ErrorBanner error={exec.error} /></div>;
  if (!e) return <div className="page"><p className="muted">Loading…</p></div>;
  const tasks = wf.data?.tasks ?? [];
  const selectedRow = selected !== null ? findRow(tasks, selected) : undefined;

  return (
    <div className="page">
      <header className="page-head">
        <div>
          <div className="crumbs"><Link to="/executions">Executions</Link> / #{e.id}
            {e.parent && <> · task of <Link to={`/executions/${e.parent}`}>#{e.parent}</Link></>}</div>
          <h1><span className="ref">{e.action_ref}</span> <StatusBadge status={e.status} /></h1>
        </div>
        <div className="row">
          {m && e.workflow_id && (
            <a className="button" href={temporalLink(m, e.workflow_id)} target="_blank" rel="noreferrer">Open in Temporal ↗</a>
          )}
          <Link className="button" to={`/actions/${e.action_ref}`}>Action</Link>
          <CancelButton execution={e} isWorkflow={!!isWorkflow} onDone={() => { exec.reload(); wf.reload(); }} />
        </div>
      </header>
      <dl className="facts">
        <div><dt>Created</dt><dd>{when(e.created)}</dd></div>
        <div><dt>Started</dt><dd>{when(e.started_at)}</dd></div>
        <div><dt>Ended</dt><dd>{when(e.ended_at)}</dd></div>
        <div><dt>Duration</dt><dd>{duration(e.started_at, e.ended_at)}</dd></div>
        {e.workflow_id && <div><dt>Workflow id</dt><dd><code>{e.workflow_id}</code></dd></div>}
      </dl>
      <ErrorBanner error={exec.error ?? wf.error ?? definition.error} />
      {wf.data?.error_message && <div className="banner error" role="alert">{wf.data.error_message}</div>}

      {isWorkflow && wf.data && (
        <div className="split">
          <Section title="Graph">
            {definition.data
              ? <ExecutionGraph wfDef={definition.data} view={wf.data} selected={selectedRow?.workflow_task?.task_name}
                onSelect={(name) => { const row = latest(tasks, name); if (row) select(row.id); }} />
              : <Empty>Loading the workflow definition…</Empty>}
          </Section>
          <Section title={selectedRow ? `Task ${selectedRow.workflow_task?.task_name ?? ""} · #${selectedRow.id}` : "Task"}>
            {selectedRow ? <TaskDetail row={selectedRow} /> : <Empty>Select a task in the graph or the table.</Empty>}
          </Section>
        </div>
      )}
      {isWorkflow && wf.data && (
        <Section title="Tasks">
          <TaskTable rows={tasks} parentWorkflowId={e.workflow_id} selected={selected} onSelect={select}
            running={new Set(wf.data.current_tasks)} />
        </Section>
      )}
      <div className="split">
        <Section title="Parameters"><JsonBlock value={e.config} label="parameters" /></Section>
        <Section title="Result"><ResultView result={e.result} /></Section>
      </div>
      {isWorkflow && wf.data && (
        <Section title="Workflow variables"><JsonBlock value={wf.data.variables} label="variables" /></Section>
      )}
    </div>
  );
}

function CancelButton({ execution, isWorkflow, onDone }: { execution: Execution; isWorkflow: boolean; onDone: () => void }) {
  const [armed, setArmed] = useState(false);
  const [error, setError] = useState<string>();
  if (TERMINAL.has(execution.status) || (execution.parent !== null && !isWorkflow)) return null;
  if (execution.status === "canceling") return <button disabled>Canceling…</button>;
  const cancel = async () => {
    try {
      await post(`/executions/${execution.id}/cancel`, {});
      onDone();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setArmed(false);
    }
  };
  return (
    <>
      {armed
        ? <button className="danger" onClick={cancel} autoFocus onBlur={() => setArmed(false)}>Confirm cancel</button>
        : <button className="danger-outline" onClick={() => setArmed(true)}>Cancel execution</button>}
      {error && <span className="field-error" role="alert">{error}</span>}
    </>
  );
}

/** The latest attempt of each task, by task name. */
function latest(rows: Execution[], name: string): Execution | undefined {
  return rows.filter((r) => r.workflow_task?.task_name === name).sort((a, b) => b.id - a.id)[0];
}

function findRow(rows: Execution[], id: number): Execution | undefined {
  return rows.find((r) => r.id === id);
}

/** A task's status across its attempts/items: running wins, then failure, then the latest. */
function groupStatus(rows: Execution[]): string {
  const open = rows.find((r) => !TERMINAL.has(r.status));
  if (open) return open.status;
  const items = rows.some((r) => r.workflow_task?.task_index != null);
  if (items) {
    const lastRun = latestAttempts(rows);
    const bad = lastRun.find((r) => r.status !== "completed");
    return bad ? bad.status : "completed";
  }
  return [...rows].sort((a, b) => b.id - a.id)[0]?.status ?? "pending";
}

/** For with_items: the last attempt of every item. */
function latestAttempts(rows: Execution[]): Execution[] {
  const byItem = new Map<number, Execution>();
  for (const r of rows) {
    const i = r.workflow_task?.task_index ?? -1;
    const cur = byItem.get(i);
    if (!cur || r.id > cur.id) byItem.set(i, r);
  }
  return [...byItem.values()];
}

function ExecutionGraph({ wfDef, view, selected, onSelect }: {
  wfDef: Workflow; view: WorkflowExecution; selected?: string; onSelect: (name: string) => void;
}) {
  const tasks = wfDef.definition.tasks;
  const positions = useMemo(() => layout(tasks), [tasks]);
  const computed: TaskNodeType[] = tasks.map((t) => {
    const rows = view.tasks.filter((r) => r.workflow_task?.task_name === t.name);
    let status = rows.length ? groupStatus(rows) : "pending";
    if (view.current_tasks.includes(t.name)) status = rows.length && !TERMINAL.has(status) ? status : "running";
    return {
      id: t.name, type: "task", position: positions[t.name], draggable: false, connectable: false,
      selected: selected === t.name, data: { name: t.name, action: t.action, status, badges: badgesOf(t) },
    };
  });
  // Kept in state with what React Flow measured: fresh node objects on every refresh would make
  // it measure them again, and edges are only drawn between measured nodes.
  const [nodes, onNodesChange] = useFlowNodes(computed);
  const edges: Edge[] = edgesOf(tasks).map((e) => ({
    id: e.id, source: e.source, target: e.target, label: e.label, className: `edge-${e.kind}`,
    markerEnd: { type: MarkerType.ArrowClosed }, labelBgPadding: [4, 2], labelBgBorderRadius: 4,
  }));
  return (
    <div className="graph" data-testid="execution-graph">
      <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} onNodesChange={onNodesChange}
        fitView fitViewOptions={{ maxZoom: 1 }} minZoom={0.2}
        nodesConnectable={false} nodesDraggable={false} onNodeClick={(_, n) => onSelect(n.id)}
        proOptions={{ hideAttribution: true }}>
        <Background gap={20} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

function TaskTable({ rows, parentWorkflowId, selected, onSelect, depth = 0, running }: {
  rows: Execution[]; parentWorkflowId: string | null; selected: number | null; onSelect: (id: number) => void; depth?: number;
  running?: Set<string>; // tasks the workflow still runs (more items may come), when known
}) {
  const groups = useMemo(() => {
    const byName = new Map<string, Execution[]>();
    for (const r of [...rows].sort((a, b) => a.id - b.id)) {
      const name = r.workflow_task?.task_name ?? `#${r.id}`;
      const group = byName.get(name);
      if (group) group.push(r); else byName.set(name, [r]);
    }
    return [...byName.entries()];
  }, [rows]);
  if (rows.length === 0) return <Empty>No task has started yet.</Empty>;
  return (
    <table className="table tasks" data-testid={depth === 0 ? "task-table" : undefined}>
      {depth === 0 && (
        <thead><tr><th>Task</th><th>Attempt / item</th><th>Status</th><th>Action</th><th>Started</th><th>Duration</th></tr></thead>
      )}
      <tbody>
        {groups.map(([name, attempts]) => {
          const items = attempts.filter((a) => a.workflow_task?.task_index != null);
          const lastRuns = latestAttempts(items);
          const done = lastRuns.filter((a) => TERMINAL.has(a.status)).length;
          const failed = lastRuns.filter((a) => TERMINAL.has(a.status) && a.status !== "completed").length;
          // The item count is known only once the task has ended: items are recorded as they start.
          const open = done < lastRuns.length || (running?.has(name) ?? !TERMINAL.has(groupStatus(attempts)));
          return [
            <tr key={`g-${name}`} className="group-row" data-task-group={name}>
              <td colSpan={2}><strong>{name}</strong>
                {items.length > 0 && <span className="progress" data-testid="items-progress">
                  {" "}· {open ? `items: ${done} done, ${lastRuns.length - done} running so far`
                    : `items ${done}/${lastRuns.length} done`}{failed ? `, ${failed} failed` : ""}
                </span>}
              </td>
              <td><StatusBadge status={groupStatus(attempts)} /></td>
              <td className="ref">{attempts[0].action_ref}</td>
              <td colSpan={2} />
            </tr>,
            ...attempts.map((a) => (
              <AttemptRow key={a.id} row={a} parentWorkflowId={parentWorkflowId} selected={selected}
                onSelect={onSelect} depth={depth} />
            )),
          ];
        })}
      </tbody>
    </table>
  );
}

function AttemptRow({ row, parentWorkflowId, selected, onSelect, depth }: {
  row: Execution; parentWorkflowId: string | null; selected: number | null; onSelect: (id: number) => void; depth: number;
}) {
  const [open, setOpen] = useState(false);
  const nested = row.workflow_id !== null && row.workflow_id !== parentWorkflowId;
  const wt = row.workflow_task;
  const what = [wt?.task_index != null ? `item ${wt.task_index}` : null, `attempt ${(wt?.retry_count ?? 0) + 1}`]
    .filter(Boolean).join(" · ");
  return (
    <>
      <tr className={`attempt-row${selected === row.id ? " selected" : ""}`} data-execution={row.id}>
        <td style={{ paddingLeft: `${1 + depth * 1.5}rem` }}>
          {nested && (
            <button className="toggle" aria-expanded={open} aria-label={`${open ? "Collapse" : "Expand"} nested workflow ${row.id}`}
              onClick={() => setOpen(!open)}>{open ? "▾" : "▸"}</button>
          )}
          <button className="link" onClick={() => onSelect(row.id)}>#{row.id}</button>
        </td>
        <td className="muted">{what}</td>
        <td><StatusBadge status={row.status} /></td>
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

function TaskDetail({ row }: { row: Execution }) {
  return (
    <div className="task-detail" data-testid="task-detail">
      <p><StatusBadge status={row.status} /> <Link className="ref" to={`/executions/${row.id}`}>{row.action_ref}</Link>
        {row.workflow_task?.triggered_by && <span className="muted"> · triggered by {row.workflow_task.triggered_by}</span>}
        <span className="muted"> · {duration(row.started_at, row.ended_at)}</span></p>
      <h3>Input</h3>
      <JsonBlock value={row.config} label="task input" />
      <h3>Output</h3>
      <ResultView result={row.result} />
    </div>
  );
}

function ResultView({ result }: { result: unknown }) {
  if (result === null || result === undefined) return <Empty>No result yet.</Empty>;
  if (typeof result !== "object" || Array.isArray(result)) return <JsonBlock value={result} label="result" />;
  const r = result as Record<string, unknown>;
  const { stdout, stderr, error, ...rest } = r;
  return (
    <div className="result">
      {typeof error === "string" && <div className="banner error" role="alert">{error}</div>}
      {typeof stdout === "string" && <><h4>stdout{r.stdout_truncated ? " (truncated)" : ""}</h4><pre className="code">{stdout || " "}</pre></>}
      {typeof stderr === "string" && stderr && <><h4>stderr{r.stderr_truncated ? " (truncated)" : ""}</h4><pre className="code stderr">{stderr}</pre></>}
      <h4>{typeof stdout === "string" || typeof stderr === "string" ? "Other fields" : "Value"}</h4>
      <JsonBlock value={rest} label="result fields" />
    </div>
  );
}
