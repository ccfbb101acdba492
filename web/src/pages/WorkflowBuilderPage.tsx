// The workflow builder: create and edit workflow actions as a graph and as YAML, in step.
// Pack and name make the ref; when editing they are locked (the API refuses a ref change too).
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import "@xyflow/react/dist/style.css";
import "../graph.css";
import { Background, Controls, ReactFlow, type Connection } from "@xyflow/react";
import { api, ApiError, post, put } from "../api";
import { ErrorBanner, usePageTitle } from "../components/common";
import { useFlowNodes, useLayout } from "../components/flow";
import { edgeTypes, flowEdges } from "../components/LabelledEdge";
import { badgesOf, nodeTypes, type TaskNodeType } from "../components/TaskNode";
import { loadActions, loadPacks, matches } from "../catalog";
import { edgesOf } from "../graph";
import { useDebounced, useLoad } from "../hooks";
import type { Item, ParameterSpec, Problem, ValidateResult, Workflow, WorkflowFiles } from "../types";
import { TaskInspector, WorkflowInspector } from "../builder/Inspectors";
import { YamlView } from "../builder/YamlView";
import { workflowNameProblem } from "../builder/rules";
import { useLimits } from "../meta";
import {
  addTask, CHART, connect, docFromDefinition, emptyDoc, fromYaml, positionsOf, removeTask, renameTask,
  patchYaml, taskLines, tasksOf, toYaml, updateTask, usesLegacyForms, validationText, type Doc, type ParseOutcome,
} from "../builder/model";

function LockIcon() {
  return (
    <svg width="12" height="12" viewBox="0 0 16 16" aria-hidden="true" style={{ verticalAlign: "-1px" }}>
      <rect x="2.5" y="7" width="11" height="8" rx="1.5" fill="currentColor" />
      <path d="M5 7V5a3 3 0 0 1 6 0v2" stroke="currentColor" strokeWidth="1.8" fill="none" />
    </svg>
  );
}

interface State { doc: Doc; text: string; parseError?: ParseOutcome["error"] }

export function WorkflowBuilderPage() {
  const editRef = useParams().ref;
  const isEditing = editRef !== undefined;
  usePageTitle(isEditing ? `Edit ${editRef}` : "New workflow");
  const navigate = useNavigate();
  const [search] = useSearchParams();
  const actions = useLoad(loadActions, []);
  const packs = useLoad(loadPacks, []);

  const [packChoice, setPack] = useState(search.get("pack") ?? "");
  // Until one is chosen, a new workflow goes to the first pack that has a directory (derived,
  // not set by an effect, which could overwrite a choice made before it ran).
  const pack = packChoice || (isEditing ? "" : packs.data?.find((p) => p.path)?.ref ?? packs.data?.[0]?.ref ?? "");
  const [name, setName] = useState("");
  const [label, setLabel] = useState("");
  // The action's own description (its YAML's), kept on save: the workflow file's `description`
  // is the file's, and sending it replaced the action's.
  const [actionDescription, setActionDescription] = useState<string | null>(null);
  const [parameters, setParameters] = useState<Record<string, ParameterSpec>>({});
  const [state, setState] = useState<State>(() => ({ doc: emptyDoc(), text: toYaml(emptyDoc()) }));
  const [loaded, setLoaded] = useState(!isEditing);
  const [loadError, setLoadError] = useState<ApiError>();
  const [selected, setSelected] = useState<string | null>(null);
  const [tab, setTab] = useState<"graph" | "yaml">("graph");
  const [problems, setProblems] = useState<Problem[]>([]);
  const [validating, setValidating] = useState(false);
  const [saveError, setSaveError] = useState<ApiError>();
  const [saving, setSaving] = useState(false);
  const [savedAt, setSavedAt] = useState<Date>();
  const [dirty, setDirty] = useState(false);
  const [paletteQuery, setPaletteQuery] = useState("");
  const [taskNameProblem, setTaskNameProblem] = useState<string | null>(null); // typed, not applied
  const limits = useLimits();

  // Editing: the stored workflow, and its file when the pack has a directory (positions, comments).
  useEffect(() => {
    if (!editRef) return;
    (async () => {
      try {
        const [wf, files] = await Promise.all([
          api<Item<Workflow>>(`/workflows/${editRef}`, { exact: false }).then((r) => r.data),
          api<Item<WorkflowFiles>>(`/workflows/${editRef}/files`, { exact: false }).then((r) => r.data).catch((err) => {
            if (err instanceof ApiError && err.status === 404) return undefined; // no file on disk
            throw err;
          }),
        ]);
        let doc = docFromDefinition(wf.definition);
        let text = toYaml(doc);
        if (files) {
          // The file as written keeps comments and positions; legacy forms are shown normalized.
          const parsed = fromYaml(files.workflow_yaml).doc;
          if (parsed && !usesLegacyForms(parsed)) [doc, text] = [parsed, files.workflow_yaml];
          else if (parsed) [doc, text] = [docFromDefinition(wf.definition, positionsOf(parsed)), toYaml(docFromDefinition(wf.definition, positionsOf(parsed)))];
        }
        setPack(wf.pack_ref);
        setName(wf.ref.slice(wf.pack_ref.length + 1));
        setLabel(wf.label ?? "");
        setActionDescription(wf.description);
        setParameters(wf.parameters);
        setState({ doc, text });
        setLoaded(true);
      } catch (err) {
        setLoadError(err as ApiError);
      }
    })();
  }, [editRef]);

  const setDoc = (doc: Doc) => {
    // Only what changed is rewritten: the file's comments and style survive a graph edit.
    setState((s) => ({ doc, text: s.parseError ? toYaml(doc) : patchYaml(s.text, s.doc, doc) }));
    setDirty(true);
  };
  const setText = (text: string) => {
    const outcome = fromYaml(text);
    setState((s) => ({ doc: outcome.doc ?? s.doc, text, parseError: outcome.error }));
    setDirty(true);
  };

  // Live validation through the API, a moment after the last change.
  const settled = useDebounced(JSON.stringify([state.text, parameters]), 350);
  useEffect(() => {
    if (!loaded) return;
    let stale = false;
    setValidating(true);
    post<ValidateResult>("/workflows/validate", { yaml: validationText(state.text, state.doc, parameters) })
      .then((r) => { if (!stale) setProblems(r.errors); })
      .catch((err) => { if (!stale) setProblems([{ message: `validation unavailable: ${(err as Error).message}` }]); })
      .finally(() => { if (!stale) setValidating(false); });
    return () => { stale = true; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [settled, loaded]);

  const tasks = tasksOf(state.doc);
  const lines = useMemo(() => taskLines(state.text), [state.text]);
  const textLines = state.text.split("\n").length;
  const problemsOf = (taskName: string) => {
    const i = tasks.findIndex((t) => t.name === taskName);
    const range = lines[i];
    return range ? problems.filter((p) => p.line && p.line >= range[0] && p.line <= range[1]) : [];
  };
  const taskProblemLines = new Set(lines.flatMap(([a, b]) => problems.filter((p) => p.line && p.line >= a && p.line <= b)));
  const workflowProblems = problems.filter((p) => !taskProblemLines.has(p))
    .map((p) => (p.line && p.line > textLines ? { ...p, line: null, message: `parameters: ${p.message}` } : p));

  const ref = `${pack}.${name}`;
  const nameProblem = isEditing ? null : workflowNameProblem(name, pack, limits);
  const blockers = [
    !pack && "choose a pack",
    !name && "name the workflow",
    nameProblem && `name: ${nameProblem}`,
    taskNameProblem,
    state.parseError && "fix the YAML syntax",
    validating && "validating…",
    problems.length > 0 && `${problems.length} problem${problems.length > 1 ? "s" : ""} to fix`,
  ].filter(Boolean) as string[];

  const save = async () => {
    setSaving(true);
    setSaveError(undefined);
    const body = { ref, pack_ref: pack, label: label || undefined, description: actionDescription ?? (state.doc.description || undefined), parameters, yaml: state.text };
    try {
      if (isEditing) await put(`/workflows/${editRef}`, body);
      else await post("/workflows", body);
      setSavedAt(new Date());
      setDirty(false);
      if (!isEditing) navigate(`/workflows/${ref}/edit`, { replace: true });
    } catch (err) {
      const e = err as ApiError;
      setSaveError(e);
      if (e.status === 422) setProblems(e.details.map((d) => ({ ...d })));
    } finally {
      setSaving(false);
    }
  };

  // Graph.
  const graphEdges = edgesOf(tasks);
  const positions = useLayout(tasks, graphEdges, positionsOf(state.doc)); // not again for an edit of a field
  const computed: TaskNodeType[] = useMemo(() => tasks.map((t) => ({
    id: t.name, type: "task", position: positions[t.name], selected: selected === t.name,
    data: { name: t.name, action: t.action, badges: badgesOf(t), problems: problemsOf(t.name).length },
  })), [state.doc, positions, selected, problems]); // eslint-disable-line react-hooks/exhaustive-deps
  const [nodes, onNodesChange] = useFlowNodes(computed);
  const edges = flowEdges(graphEdges);
  const onConnect = (c: Connection) => { if (c.source && c.target) setDoc(connect(state.doc, c.source, c.target)); };
  const add = (actionRef: string) => {
    const maxY = Math.max(-110, ...Object.values(positions).map((p) => p.y));
    const [doc, taskName] = addTask(state.doc, actionRef, { x: 40, y: maxY + 110 });
    setDoc(doc);
    setSelected(taskName);
  };

  const selectedTask = tasks.find((t) => t.name === selected);
  const paletteItems = (actions.data ?? []).filter((a) => matches(a, paletteQuery)).slice(0, 200);

  if (loadError) return <div className="page"><ErrorBanner error={loadError} /></div>;
  if (!loaded) return <div className="page"><p className="muted">Loading…</p></div>;

  return (
    <div className="page builder">
      <header className="page-head">
        <div>
          <div className="crumbs"><Link to="/actions">Actions</Link> / {isEditing ? <Link to={`/actions/${editRef}`}>{editRef}</Link> : "new workflow"}</div>
          <h1>{isEditing ? <>Edit <span className="ref">{editRef}</span></> : "New workflow"}</h1>
        </div>
        <div className="row">
          <span id="save-state" className={`save-state${blockers.length ? " blocked" : ""}`} data-testid="save-state" aria-live="polite">
            {blockers.length ? blockers.join(" · ") : dirty || !isEditing ? "ready to save" : savedAt ? `saved ${savedAt.toLocaleTimeString()}` : "no changes"}
          </span>
          {isEditing && !dirty && <Link className="button" to={`/actions/${editRef}`}>Run…</Link>}
          {/* aria-disabled, not disabled: saving (or a 422 that blocks it) disabled the focused
              button and dropped keyboard focus to <body>. Blocked, it says why (save-state). */}
          <button className="primary" onClick={() => { if (!saving && blockers.length === 0) void save(); }}
            aria-disabled={saving || blockers.length > 0} aria-describedby="save-state" data-testid="save">
            {saving ? "Saving…" : "Save"}
          </button>
        </div>
      </header>
      <div className="identity" data-testid="identity">
        <div className="field">
          <label htmlFor="wf-pack">Pack</label>
          <select id="wf-pack" value={pack} disabled={isEditing} onChange={(e) => setPack(e.target.value)}
            title={isEditing ? "The ref (pack.name) cannot change after creation" : undefined}>
            {!pack && <option value="">choose a pack</option>}
            {(packs.data ?? []).map((p) => <option key={p.ref} value={p.ref}>{p.ref}{p.path ? "" : " (no directory)"}</option>)}
            {isEditing && !(packs.data ?? []).some((p) => p.ref === pack) && <option value={pack}>{pack}</option>}
          </select>
        </div>
        <div className={`field${nameProblem ? " invalid" : ""}`}>
          <label htmlFor="wf-name">Name</label>
          <input id="wf-name" value={name} disabled={isEditing} placeholder="my_workflow"
            title={isEditing ? "The ref (pack.name) cannot change after creation" : undefined}
            onChange={(e) => setName(e.target.value)} aria-invalid={!!nameProblem}
            aria-describedby={nameProblem ? "wf-name-problem" : undefined} />
          {nameProblem && <span className="field-error" id="wf-name-problem" data-testid="wf-name-problem">{nameProblem}</span>}
        </div>
        <div className="field">
          <span className="label">Ref</span>
          <code className="ref-preview">{pack && name ? ref : "pack.name"}</code>
          {isEditing && <span className="locked" data-testid="ref-locked"><LockIcon /> locked: a ref cannot change after creation</span>}
        </div>
      </div>
      <ErrorBanner error={saveError} />
      <div className="builder-body">
        <aside className="palette" aria-label="Action catalog">
          <h2>Add a task</h2>
          <input type="search" aria-label="Search actions" placeholder="search actions" value={paletteQuery}
            onChange={(e) => setPaletteQuery(e.target.value)} />
          <ul>
            {paletteItems.map((a) => (
              <li key={a.ref}>
                <button className="palette-item" onClick={() => add(a.ref)} title={a.description ?? undefined} data-action={a.ref}>
                  <span className="ref">{a.ref}</span>
                  {a.label && <span className="muted">{a.label}</span>}
                </button>
              </li>
            ))}
          </ul>
        </aside>
        <section className="canvas">
          <div className="tabs" role="tablist">
            <button role="tab" aria-selected={tab === "graph"} onClick={() => setTab("graph")}>Graph</button>
            <button role="tab" aria-selected={tab === "yaml"} onClick={() => setTab("yaml")}>
              YAML{state.parseError ? " ⚠" : ""}</button>
            <span className="muted tab-hint">{tab === "graph" ? "Drag from a node's bottom handle to another node to connect; Delete removes the selected task." : "Edits here update the graph as soon as the YAML parses."}</span>
          </div>
          {tab === "graph" ? (
            <div className="graph editable" data-testid="builder-graph">
              <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
                onNodesChange={(changes) => {
                  onNodesChange(changes);
                  // A node selected from the keyboard (Tab to it, Enter) opens it like a click.
                  const picked = changes.find((c) => c.type === "select" && c.selected);
                  if (picked && picked.type === "select" && picked.id !== selected) setSelected(picked.id);
                }}
                onConnect={onConnect} fitView fitViewOptions={{ maxZoom: 1 }} minZoom={0.2} maxZoom={1.5} deleteKeyCode={["Delete", "Backspace"]}
                onNodeClick={(_, n) => setSelected(n.id)} onPaneClick={() => setSelected(null)}
                onEdgeClick={(_, e) => setSelected(e.source)}
                onNodeDragStop={(_, n) => setDoc(updateTask(state.doc, n.id, (t) => ({ ...t, [CHART]: { ...(t[CHART] ?? {}), position: { x: Math.round(n.position.x), y: Math.round(n.position.y) } } })))}
                onNodesDelete={(deleted) => { let d = state.doc; for (const n of deleted) d = removeTask(d, n.id); setDoc(d); setSelected(null); }}
                proOptions={{ hideAttribution: true }}>
                <Background gap={20} size={1} />
                <Controls />
              </ReactFlow>
              {tasks.length === 0 && <p className="canvas-empty">Pick an action under "Add a task" to add the first task.</p>}
            </div>
          ) : (
            <YamlView text={state.text} onChange={setText} problems={problems} parseError={state.parseError} />
          )}
        </section>
        <aside className="side" aria-label={selectedTask ? `Task ${selectedTask.name}` : "Workflow"}>
          <div className="side-head">
            <h2>{selectedTask ? <>Task <span className="ref">{selectedTask.name}</span></> : "Workflow"}</h2>
            {selectedTask && <button className="link" onClick={() => setSelected(null)}>Workflow settings</button>}
          </div>
          {selectedTask ? (
            <TaskInspector key={selectedTask.name} task={selectedTask} doc={state.doc} actions={actions.data ?? []}
              problems={problemsOf(selectedTask.name)} limits={limits} onNameProblem={setTaskNameProblem}
              onChange={(t) => setDoc(updateTask(state.doc, selectedTask.name, () => t))}
              onRename={(to) => {
                if (tasks.some((t) => t.name === to)) return;
                setDoc(renameTask(state.doc, selectedTask.name, to));
                setSelected(to);
              }}
              onDelete={() => { setDoc(removeTask(state.doc, selectedTask.name)); setSelected(null); }} />
          ) : (
            <WorkflowInspector doc={state.doc} label={label} parameters={parameters} problems={workflowProblems}
              onDoc={setDoc} onLabel={(l) => { setLabel(l); setDirty(true); }}
              onParameters={(p) => { setParameters(p); setDirty(true); }} />
          )}
        </aside>
      </div>
      <section className="problems-bar" aria-label="Problems" data-testid="problems">
        {state.parseError && <div className="problem"><code>{state.parseError.line}:{state.parseError.column}</code> YAML: {state.parseError.message}</div>}
        {problems.length === 0 && !state.parseError
          ? <span className="ok">{validating ? "Validating…" : "✓ No problems"}</span>
          : problems.map((p, i) => {
            const owner = p.line ? tasks.find((_, ti) => lines[ti] && p.line! >= lines[ti][0] && p.line! <= lines[ti][1]) : undefined;
            return (
              <div className="problem" key={i}>
                {p.line ? <code>{p.line}:{p.column ?? 1}</code> : null}
                {owner && <button className="link" onClick={() => { setSelected(owner.name); setTab("graph"); }}>task {owner.name}</button>}
                {" "}{p.message}
              </div>
            );
          })}
      </section>
    </div>
  );
}
