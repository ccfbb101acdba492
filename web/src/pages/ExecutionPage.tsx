// One execution: its graph filling in live, every task attempt, inputs and outputs, variables,
// what it waits for (inquiries), run control, and for a re-run the tasks it kept.
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import "@xyflow/react/dist/style.css";
import "../graph.css";
import { Background, Controls, MiniMap, ReactFlow } from "@xyflow/react";
import { api, ApiError } from "../api";
import { announce, Empty, ErrorBanner, JsonBlock, NotAnId, isId, Section, StatusBadge, usePageTitle } from "../components/common";
import { useFlowNodes, useLayout } from "../components/flow";
import { FailureReasons } from "../components/FailureReasons";
import { InquiryCard, type Notice } from "../components/InquiryCard";
import { edgeTypes, flowEdges } from "../components/LabelledEdge";
import { RunControls } from "../components/RunControls";
import { badgesOf, nodeTypes, type TaskNodeType } from "../components/TaskNode";
import { attemptLabel, groupStatus, latest, TaskTable, waitDetail, waitingFor, waitStatus, type Unrecorded } from "../components/TaskTable";
import { TerminalText } from "../components/TerminalText";
import { cutNote, duration, when } from "../format";
import { edgesOf, mergeParallel, runGraph, type RunGraph } from "../graph";
import { urlNow, useLoad } from "../hooks";
import { meta, temporalLink } from "../meta";
import { TERMINAL, type Action, type Execution, type Inquiry, type Item, type Meta, type TaskDef, type Workflow, type WorkflowExecution } from "../types";

const REFRESH_MS = 1000;
const MAX_INQUIRIES = 10;
const PAUSED: ReadonlySet<string> = new Set(["pausing", "paused"]);

export function ExecutionPage() {
  const raw = useParams().id ?? "";
  if (!isId(raw)) return <NotAnId what="execution" given={raw} list="/executions" />;
  const id = Number(raw);
  // A fresh page per execution: nothing of the last one (its data, its buttons) may linger
  // while the next one loads.
  return <ExecutionView key={id} id={id} />;
}

function ExecutionView({ id }: { id: number }) {
  const [params, setParams] = useSearchParams();
  const selected = params.get("task") ? Number(params.get("task")) : null;
  const select = (execId: number | null) => setParams(() => {
    const next = urlNow();  // the URL now, not as this render saw it
    if (execId === null) next.delete("task");
    else next.set("task", String(execId));
    return next;
  }, { replace: true });

  const live = (e: Execution | undefined) => !e || !TERMINAL.has(e.status);
  const exec = useLoad(() => api<Item<Execution>>(`/executions/${id}`).then((r) => r.data), [id],
    { everyMs: REFRESH_MS, live });
  const actionRef = exec.data?.action_ref;
  // What the action is decides what else to ask for: a script's page asked for a workflow view
  // and a workflow definition too, two 404s (console errors) on every task's page.
  const kind = useLoad(async () => (actionRef ? actionKind(actionRef) : undefined), [actionRef]);
  const viewed = kind.data === "workflow" || kind.data === "unknown";
  const wf = useLoad(async () => {
    if (!viewed) return undefined;
    try {
      return (await api<Item<WorkflowExecution>>(`/executions/${id}/workflow`)).data;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined; // an action since deleted
      throw err;
    }
  }, [id, viewed], { everyMs: REFRESH_MS, live: (v) => v !== undefined && !TERMINAL.has(v.status) });
  const isWorkflow = kind.data === "workflow" || (kind.data === "unknown" && wf.data !== undefined);
  const gone = kind.data === "unknown"; // deleted since: nothing to open or run again
  // The workflow as it is now: for the conditions on the run's edges, and its graph for a run
  // whose record has none yet.
  const definition = useLoad(async () => {
    if (kind.data !== "workflow" || !actionRef) return undefined;
    try {
      return (await api<Item<Workflow>>(`/workflows/${actionRef}`, { exact: false })).data; // drawn, not shown as JSON
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined; // deleted meanwhile
      throw err;
    }
  }, [actionRef, kind.data]);
  const [m, setMeta] = useState<Meta>();
  useEffect(() => { meta().then(setMeta).catch(() => undefined); }, []);
  const [controlError, setControlError] = useState<ApiError>();
  // An answer refused: kept for its card, which is a new one once the answered inquiry moves
  // from the top of the page to its end.
  const [refused, setRefused] = useState<Notice>();
  const inquiries = useRunInquiries(exec.data, wf.data);
  usePageTitle(exec.data ? `Execution ${id} · ${exec.data.action_ref}` : `Execution ${id}`);
  useAnnounceStatus(id, exec.data?.status);

  const e = exec.data;
  if (exec.error && !e) return <div className="page"><ErrorBanner error={exec.error} /></div>;
  if (!e) return <div className="page"><p className="muted">Loading…</p></div>;
  const tasks = wf.data?.tasks ?? [];
  const kept = wf.data?.kept_tasks ?? [];
  const keptIds = new Set(kept.map((k) => k.id));
  const selectedRow = selected !== null ? [...tasks, ...kept].find((r) => r.id === selected) : undefined;
  const unrecorded = wf.data ? unrecordedFailures(wf.data) : [];
  const reload = () => { exec.reload(); wf.reload(); inquiries.reload(); };
  const pending = (inquiries.data ?? []).some((q) => q.status === "pending");
  const inquirySection = inquiries.data && inquiries.data.length > 0 && (
    <Section title={pending ? "Waiting for an answer" : "Inquiries"}>
      {/* The card says a refusal itself (once); this stands for it only when the card is no
          longer among those shown. Not an alert: the card's was. */}
      {refused && !inquiries.data.some((q) => q.id === refused.inquiry) && (
        <div className="banner error" data-testid="inquiry-notice">Inquiry #{refused.inquiry}: <TerminalText text={refused.text} /></div>
      )}
      {inquiries.data.map((q) => (
        <InquiryCard key={q.id} inquiry={q} level={3} refused={refused?.inquiry === q.id ? refused.text : undefined}
          onChanged={(n) => { setRefused(n.ok ? undefined : n); reload(); }} />
      ))}
      {inquiries.more > 0 && <p className="muted">And {inquiries.more} more: see <Link to="/inquiries">Inquiries</Link>.</p>}
    </Section>
  );

  return (
    <div className="page">
      <header className="page-head">
        <div>
          <div className="crumbs"><Link to="/executions">Executions</Link> / #{e.id}
            {e.parent && <> · <span data-testid="task-of">{taskOf(e)} of <Link to={`/executions/${e.parent}?task=${e.id}`}>#{e.parent}</Link></span></>}
            {e.rerun_of && <> · <span data-testid="rerun-of">re-run of <Link to={`/executions/${e.rerun_of}`}>#{e.rerun_of}</Link>
              {kept.length > 0 && ` from its failed tasks (${kept.length} kept)`}</span></>}</div>
          <h1><span className="ref">{e.action_ref}</span> <StatusBadge status={e.status} /></h1>
          {e.status_detail && <p className="status-detail" data-testid="execution-detail"><TerminalText text={e.status_detail} /></p>}
        </div>
        <div className="row">
          {m && e.workflow_id && (
            <a className="button" href={temporalLink(m, e.workflow_id)} target="_blank" rel="noreferrer">Open in Temporal ↗</a>
          )}
          {gone ? <span className="muted" data-testid="action-gone">{e.action_ref} is no longer registered</span>
            : <Link className="button" to={`/actions/${e.action_ref}`}>Action</Link>}
          <RunControls execution={e} isWorkflow={isWorkflow} registered={!gone} onDone={reload} onError={setControlError} />
        </div>
      </header>
      <ErrorBanner error={controlError} />
      {PAUSED.has(e.status) && (
        // Not a live region: the announcer says the change (useAnnounceStatus); both said it.
        <div className="banner paused" data-testid="paused-banner">
          {e.status === "pausing" ? "Pausing: the running tasks finish, nothing new starts." : "Paused: nothing runs until it is resumed."}
        </div>
      )}
      <dl className="facts">
        <div><dt>Created</dt><dd>{when(e.created)}</dd></div>
        <div><dt>Started</dt><dd>{when(e.started_at)}</dd></div>
        <div><dt>Ended</dt><dd>{when(e.ended_at)}</dd></div>
        <div><dt>Duration</dt><dd>{duration(e.started_at, e.ended_at)}</dd></div>
        {e.workflow_id && <div><dt>Workflow id</dt><dd><code>{e.workflow_id}</code></dd></div>}
      </dl>
      <ErrorBanner error={exec.error ?? kind.error ?? wf.error ?? definition.error ?? inquiries.error} />
      {wf.data?.error_message && <div className="banner error" role="alert" data-testid="run-error"><TerminalText text={wf.data.error_message} />
        <FailureReasons view={wf.data} /></div>}
      {pending && inquirySection}

      {isWorkflow && wf.data && (
        <div className="split">
          <Section title="Graph">
            {definition.loading && !definition.data
              ? <Empty>Loading the workflow definition…</Empty>
              : <ExecutionGraph current={definition.data?.definition.tasks} gone={gone} view={wf.data} selected={selectedRow?.workflow_task?.task_name}
                onSelect={(name) => { const row = latest(tasks, name) ?? latest(kept, name); if (row) select(row.id); }} />}
          </Section>
          <Section title={selectedRow ? `Task ${selectedRow.workflow_task?.task_name ?? ""} · #${selectedRow.id}` : "Task"}>
            {selectedRow ? <TaskDetail row={selectedRow} kept={keptIds.has(selectedRow.id)} /> : <Empty>Select a task in the graph or the table.</Empty>}
          </Section>
        </div>
      )}
      {isWorkflow && wf.data && (
        <Section title="Tasks">
          <TaskTable rows={[...kept, ...tasks]} kept={keptIds} parentWorkflowId={e.workflow_id} selected={selected}
            onSelect={select} running={new Set(wf.data.current_tasks)} unrecorded={unrecorded}
            waiting={TERMINAL.has(wf.data.status) ? [] : wf.data.waiting} />
        </Section>
      )}
      {!pending && inquirySection}
      <div className="split">
        <Section title="Parameters"><JsonBlock value={e.config} label="parameters" /></Section>
        <Section title="Result"><ResultView result={e.result} level={3} /></Section>
      </div>
      {isWorkflow && wf.data && (
        <Section title="Workflow variables"><JsonBlock value={wf.data.variables} label="variables" /></Section>
      )}
    </div>
  );
}

/** The inquiries this run's tasks asked or wait for (a plain action that asked: its own), those
 *  still awaited first and at most MAX_INQUIRIES (the Inquiries page lists them all), kept fresh
 *  while the run is live or one of them is pending. */
function useRunInquiries(e: Execution | undefined, view: WorkflowExecution | undefined) {
  const rows = [...(e ? [e] : []), ...(view?.tasks ?? [])].filter((r) => r.waits_for_inquiry && r.waits_for_inquiry > 0);
  rows.sort((a, b) => Number(waitingFor(b) !== null) - Number(waitingFor(a) !== null) || b.id - a.id);
  const ids = [...new Set(rows.map((r) => r.waits_for_inquiry as number))];
  const key = ids.slice(0, MAX_INQUIRIES).join(",");
  const running = !!e && !TERMINAL.has(e.status);
  const loaded = useLoad(async () => key === "" ? [] : Promise.all(key.split(",").map(
    (i) => api<Item<Inquiry>>(`/inquiries/${i}`).then((r) => r.data))),
  [key], { everyMs: REFRESH_MS * 2, live: (qs) => running || (qs ?? []).some((q) => q.status === "pending") });
  return { ...loaded, more: Math.max(ids.length - MAX_INQUIRIES, 0) };
}

/** Say what became of the run when its status changes while the page is open (paused, resumed,
 *  cancelled): the badge changes silently. */
function useAnnounceStatus(id: number, status: string | undefined) {
  const last = useRef(status);
  useEffect(() => {
    const before = last.current;
    last.current = status;
    if (!before || !status || before === status) return;
    announce(PAUSED.has(before) && !PAUSED.has(status) && !TERMINAL.has(status)
      ? `Execution ${id} resumed: it is ${status}.` : `Execution ${id} is now ${status}.`);
  }, [id, status]);
}

/** Is the action a workflow, a script, or gone ("unknown": its run may still have a view)? */
async function actionKind(ref: string): Promise<"workflow" | "script" | "unknown"> {
  try {
    return (await api<Item<Action>>(`/actions/${ref}`)).data.is_workflow ? "workflow" : "script";
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return "unknown";
    throw err;
  }
}

/** A task's own run, named: "task check (item 2, attempt 1)", "task each (items 500–999)". */
function taskOf(e: Execution): string {
  const wt = e.workflow_task;
  if (!wt) return "task";
  return `task ${wt.task_name} (${attemptLabel(e, false).replaceAll(" · ", ", ")})`;
}

/** Tasks the run failed that have no record: one whose input, `with_items` or `when` could not
 * be evaluated fails before anything starts. They read "not run", and the table left them out. */
function unrecordedFailures(view: WorkflowExecution): Unrecorded[] {
  const recorded = new Set([...view.tasks, ...view.kept_tasks].map((r) => r.workflow_task?.task_name));
  const graph = (view.task_graph ?? {}) as RunGraph;
  return view.failed_tasks.map(String).filter((name) => !recorded.has(name)).map((name) => ({
    name, action: graph[name]?.action ?? "",
    // The run's error names the task whose expression failed ("task 'report' input.message: ...").
    error: view.error_message?.includes(`'${name}'`) ? view.error_message : null,
  }));
}

const BIG_GRAPH = 20; // tasks; past this the whole graph fits only small (minimum zoom 0.02)

/** The tasks and edges to draw: the run's own graph, or the workflow as it is now while the run
 *  has none recorded yet. */
function useDrawn(view: WorkflowExecution, current: TaskDef[] | undefined) {
  const recorded = JSON.stringify(view.task_graph ?? {});
  const drawn = useMemo(() => {
    const own = JSON.parse(recorded) as RunGraph;
    const drawn = Object.keys(own).length > 0 ? runGraph(own, current)
      : { tasks: current ?? [], edges: edgesOf(current ?? []), edited: false };
    return { ...drawn, edges: mergeParallel(drawn.edges) };
  }, [recorded, current]);
  // Laid out again only when the tasks or edges change (the run's record replacing the
  // workflow's graph, the same, is no change): the boxes stay put.
  return { ...drawn, positions: useLayout(drawn.tasks, drawn.edges) };
}

/** What a task box and an edge say they do: React Flow's own words are an editor's ("press
 *  delete to remove it"), and never said that Enter opens the task. */
const READ_ONLY_GRAPH = {
  "node.a11yDescription.default": "Press Enter to open this task.",
  "node.a11yDescription.keyboardDisabled": "Press Enter to open this task.",
  "edge.a11yDescription.default": "A transition between two tasks: its name says when it is taken.",
};

function ExecutionGraph({ current, gone, view, selected, onSelect }: {
  current: TaskDef[] | undefined; gone: boolean; view: WorkflowExecution; selected?: string; onSelect: (name: string) => void;
}) {
  const { tasks, edges, edited, positions } = useDrawn(view, current);
  const computed: TaskNodeType[] = tasks.map((t) => {
    const ran = view.tasks.filter((r) => r.workflow_task?.task_name === t.name);
    const kept = ran.length === 0 && view.kept_tasks.some((r) => r.workflow_task?.task_name === t.name);
    const rows = kept ? view.kept_tasks.filter((r) => r.workflow_task?.task_name === t.name) : ran;
    // A task that never ran is "pending" while the run goes on, "not_run" once it has ended
    // (a branch not taken, tasks after a cancel): "pending" read as if it still might.
    const unrecorded = rows.length === 0 && view.failed_tasks.includes(t.name); // failed before it started
    let status = rows.length ? groupStatus(rows) : unrecorded ? "failed" : TERMINAL.has(view.status) ? "not_run" : "pending";
    // A current task with no live record has no process: it waits for a timer (its `delay`, a
    // retry's delay: "delayed", "retrying", and until when), is held while the workflow pauses,
    // or is queued. It read "running" before.
    const wait = TERMINAL.has(view.status) ? undefined : view.waiting?.find((w) => w.task === t.name);
    let waits: string | null = null;
    if (view.current_tasks.includes(t.name) && !(rows.length && !TERMINAL.has(status))) {
      status = wait ? waitStatus(wait) : PAUSED.has(view.status) ? "paused" : "scheduled";
      waits = wait ? waitDetail(wait) : null;
    }
    const last = latest(rows, t.name);
    const inquiry = last ? waitingFor(last) : null;
    return {
      id: t.name, type: "task", position: positions[t.name], draggable: false, connectable: false,
      selected: selected === t.name,
      ariaLabel: `Task ${t.name}: ${status.replace("_", " ")}${waits ? `, ${waits}` : ""}${kept ? ", kept" : ""}`,
      data: { name: t.name, action: t.action, status, badges: badgesOf(t), kept, inquiry,
        detail: unrecorded ? "failed before it started" : waits ?? (last && !TERMINAL.has(last.status) ? last.status_detail : null) },
    };
  });
  // Kept in state with what React Flow measured: fresh node objects on every refresh would make
  // it measure them again, and edges are only drawn between measured nodes.
  const [nodes, onNodesChange] = useFlowNodes(computed);
  return (<>
    {gone ? <p className="muted graph-note" data-testid="graph-edited">The workflow is no longer registered:
      this is the graph it ran.</p>
      : edited && <p className="muted graph-note" data-testid="graph-edited">The workflow has changed since this run:
      this is the graph it ran (conditions shown where the same transition is still there).</p>}
    <div className="graph" data-testid="execution-graph">
      <ReactFlow nodes={nodes} edges={flowEdges(edges)} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
        onNodesChange={(changes) => {
          onNodesChange(changes);
          // Enter or Space on a focused task box selects it (React Flow): open it, as a click does.
          const picked = changes.find((c) => c.type === "select" && c.selected);
          if (picked && picked.type === "select" && picked.id !== selected) onSelect(picked.id);
        }}
        fitView fitViewOptions={{ maxZoom: 1 }} minZoom={0.02}
        nodesConnectable={false} nodesDraggable={false} onNodeClick={(_, n) => onSelect(n.id)}
        proOptions={{ hideAttribution: true }} ariaLabelConfig={READ_ONLY_GRAPH}>
        <Background gap={20} size={1} />
        <Controls showInteractive={false} />
        {/* A long workflow fits only small: the map says where the view is and moves it. */}
        {tasks.length > BIG_GRAPH && <MiniMap pannable zoomable nodeStrokeWidth={3} ariaLabel="Workflow map" />}
      </ReactFlow>
    </div>
  </>);
}

function TaskDetail({ row: listed, kept }: { row: Execution; kept: boolean }) {
  // The workflow view leaves large inputs and results out of its task list: read this one
  // whole (its stderr and error are what a failed task is about).
  const partial = (listed.omitted ?? []).length > 0;
  const whole = useLoad(() => (partial ? api<Item<Execution>>(`/executions/${listed.id}`).then((b) => b.data)
    : Promise.resolve(undefined)), [listed.id, partial, listed.status]);
  const row = partial && whole.data && whole.data.id === listed.id ? whole.data : listed;
  const inquiry = waitingFor(row);
  return (
    <div className="task-detail" data-testid="task-detail">
      <p><StatusBadge status={row.status} /> <Link className="ref" to={`/executions/${row.id}`}>{row.action_ref}</Link>
        {row.workflow_task?.triggered_by && <span className="muted"> · triggered by {row.workflow_task.triggered_by}</span>}
        <span className="muted"> · {duration(row.started_at, row.ended_at)}</span></p>
      {kept && <p className="muted">Kept, not run again: this is <Link to={`/executions/${row.parent}?task=${row.id}`}>#{row.parent}</Link>&apos;s record.</p>}
      {row.status_detail && <p className="status-detail"><TerminalText text={row.status_detail} />
        {inquiry && <> · <Link to={`/inquiries/${inquiry}`}>answer inquiry #{inquiry}</Link></>}</p>}
      <h3>Input</h3>
      <JsonBlock value={row.config} label="task input" />
      <h3>Output</h3>
      {partial && !whole.data && !whole.error ? <Empty>Loading…</Empty> : <ResultView result={row.result} level={4} />}
    </div>
  );
}

/** A result: its stdout, stderr and other fields under headings one level below `level - 1`'s
 *  (the Result section's h2, or a task's "Output" h3), styled alike either way. */
function ResultView({ result, level }: { result: unknown; level: 3 | 4 }) {
  const H = level === 3 ? "h3" : "h4";
  if (result === null || result === undefined) return <Empty>No result yet.</Empty>;
  if (typeof result !== "object" || Array.isArray(result)) return <JsonBlock value={result} label="result" />;
  const r = result as Record<string, unknown>;
  const { stdout, stderr, error, ...rest } = r;
  return (
    <div className="result">
      {typeof error === "string" && <div className="banner error" role="alert" data-testid="task-error"><TerminalText text={error} /></div>}
      {typeof stdout === "string" && <><H className="result-head">stdout{cutNote(r, "stdout") && <span className="muted" data-testid="stdout-cut"> ({cutNote(r, "stdout")})</span>}</H>{stdout ? <pre className="code" data-testid="stdout"><TerminalText text={stdout} /></pre> : <p className="muted" data-testid="stdout">No output.</p>}</>}
      {typeof stderr === "string" && stderr && <><H className="result-head">stderr{cutNote(r, "stderr") && <span className="muted" data-testid="stderr-cut"> ({cutNote(r, "stderr")})</span>}</H><pre className="code stderr" data-testid="stderr"><TerminalText text={stderr} /></pre></>}
      <H className="result-head">{typeof stdout === "string" || typeof stderr === "string" ? "Other fields" : "Value"}</H>
      <JsonBlock value={rest} label="result fields" />
    </div>
  );
}
