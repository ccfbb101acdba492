// The builder's right-hand panel: the selected task's fields, or the workflow's own.
import { useEffect, useState } from "react";
import YAML from "yaml";
import { conditionKind, PRESETS } from "../graph";
import type { Action, Limits, ParamType, ParameterSpec, Problem, Transition } from "../types";
import { asList, fieldText, fieldValue, type Doc, type TaskDoc } from "./model";
import { durationProblem, taskNameProblem, type DurationField } from "./rules";

const PARAM_TYPES: ParamType[] = ["string", "integer", "number", "boolean", "array", "object"];

function ProblemList({ problems }: { problems: Problem[] }) {
  if (!problems.length) return null;
  return (
    <ul className="problems" data-testid="task-problems">
      {problems.map((p, i) => <li key={i}>{p.line ? <code>{p.line}:{p.column ?? 1}</code> : null} {p.message}</li>)}
    </ul>
  );
}

/** A number field that also takes an expression (`timeout: "{{ parameters.limit }}"`): an
 * <input type="number"> showed such a value as empty, and could not be given one. */
function Num({ label, value, onChange, disabled, problem }: {
  label: string; value: unknown; onChange: (v: unknown) => void; disabled?: boolean; problem?: string | null;
}) {
  const id = `f-${label.replace(/\W+/g, "-")}`;
  return (
    <div className={`field${problem ? " invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      <ValueInput id={id} type="number" value={value} disabled={disabled} numeric onChange={onChange} problem={problem} />
      <FieldError id={id} problem={problem} />
    </div>
  );
}

/** A field's problem beside it, and its input's description (read when it has focus). Not an
 *  alert: it changes with every keystroke. */
function FieldError({ id, problem }: { id: string; problem?: string | null }) {
  return problem ? <span className="field-error" id={`${id}-problem`} data-testid={`${id}-problem`}>{problem}</span> : null;
}

function Text({ label, value, onChange, placeholder, testId }: { label: string; value: unknown; onChange: (v: string) => void; placeholder?: string; testId?: string }) {
  const id = `f-${label.replace(/\W+/g, "-")}`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} data-testid={testId} value={fieldText(value)} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} />
    </div>
  );
}

/** A value typed as text and read by its parameter's type (`fieldValue`). The text typed stays
 * as typed: shown back from the parsed value, `1.` became `1` (so `1.5` came out `15`) and `-`
 * became `[null]`. It follows the value only when that changes elsewhere (the YAML view). */
function ValueInput({ id, type, value, placeholder, label, disabled, numeric, problem, onChange }: {
  id: string; type: string; value: unknown; placeholder?: string; label?: string; disabled?: boolean; numeric?: boolean;
  problem?: string | null; onChange: (v: unknown) => void;
}) {
  const [text, setText] = useState(() => fieldText(value));
  useEffect(() => {
    setText((typed) => (JSON.stringify(fieldValue(type, typed)) === JSON.stringify(value) ? typed : fieldText(value)));
  }, [type, value]);
  return <input id={id} value={text} placeholder={placeholder} aria-label={label} disabled={disabled}
    inputMode={numeric ? "decimal" : undefined} aria-invalid={problem ? true : undefined}
    aria-describedby={problem ? `${id}-problem` : undefined}
    onChange={(e) => { setText(e.target.value); onChange(fieldValue(type, e.target.value)); }} />;
}

const EXPRESSION = "\u0000expression"; // the enum select's choice "expression…" (never an enum value)

/** An enum parameter's task input: one of its values, or an expression typed beside the select.
 * A select alone showed `{{ parameters.mode }}` as "—", as if empty, and could not be given one. */
function EnumInput({ id, name, spec, value, onChange }: {
  id: string; name: string; spec: ParameterSpec; value: unknown; onChange: (v: unknown) => void;
}) {
  const choices = (spec.enum ?? []).map(fieldText);
  const other = value !== undefined && value !== null && !choices.includes(fieldText(value));
  const [typing, setTyping] = useState(other);
  const expression = typing || other;
  return (
    <div className="row">
      <select id={id} value={expression ? EXPRESSION : fieldText(value)} onChange={(e) => {
        setTyping(e.target.value === EXPRESSION);
        if (e.target.value !== EXPRESSION) onChange(fieldValue(spec.type, e.target.value));
      }}>
        <option value="">—</option>
        {choices.map((c) => <option key={c} value={c}>{c}</option>)}
        <option value={EXPRESSION}>expression…</option>
      </select>
      {expression && <ValueInput id={`${id}-expression`} label={`${name} expression`} type={spec.type} value={value}
        placeholder={`{{ parameters.${name} }}`} onChange={onChange} />}
    </div>
  );
}

/** A YAML mapping edited as text; applied when it parses, with the parse problem shown inline. */
function YamlField({ label, value, onChange, rows = 4 }: { label: string; value: unknown; onChange: (v: unknown) => void; rows?: number }) {
  const [text, setText] = useState(() => (value === undefined ? "" : YAML.stringify(value, { lineWidth: 0 })));
  const [error, setError] = useState<string>();
  const id = `f-${label.replace(/\W+/g, "-")}`;
  const outside = JSON.stringify(value ?? null);
  useEffect(() => { // changed elsewhere (the YAML view): show that, unless it is what we hold
    let mine: unknown;
    try { mine = text.trim() ? YAML.parse(text) : undefined; } catch { mine = Symbol(); }
    if (JSON.stringify(mine ?? null) !== outside) {
      setText(value === undefined ? "" : YAML.stringify(value, { lineWidth: 0 }));
      setError(undefined);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [outside]);
  return (
    <div className={`field${error ? " invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      <textarea id={id} className="json-editor" rows={rows} spellCheck={false} value={text}
        onChange={(e) => {
          setText(e.target.value);
          try {
            const parsed = e.target.value.trim() ? YAML.parse(e.target.value) : undefined;
            if (parsed !== undefined && (typeof parsed !== "object" || Array.isArray(parsed))) throw new Error("must be a mapping (name: value)");
            setError(undefined);
            onChange(parsed);
          } catch (err) {
            setError((err as Error).message.split("\n")[0]);
          }
        }} />
      {error && <span className="field-error" role="alert">{error}</span>}
    </div>
  );
}

interface TaskProps {
  task: TaskDoc;
  doc: Doc;
  actions: Action[];
  problems: Problem[];
  limits: Limits | undefined;
  onChange: (t: TaskDoc) => void;
  onRename: (to: string) => void;
  onDelete: () => void;
  /** The name typed and not applied (a duplicate, or none): Save must wait for it. */
  onNameProblem: (problem: string | null) => void;
}

export function TaskInspector({ task, doc, actions, problems, limits, onChange, onRename, onDelete, onNameProblem }: TaskProps) {
  const [name, setName] = useState(task.name);
  useEffect(() => setName(task.name), [task.name]);
  const otherNames = (doc.tasks ?? []).map((t) => t.name).filter((n) => typeof n === "string" && n !== task.name);
  const typed = name.trim();
  // Also once applied: a name the API refuses stays marked where it is typed.
  const nameProblem = taskNameProblem(typed, otherNames, limits);
  // A duplicate or an empty name is not applied (the graph would merge two tasks or lose one);
  // any other problem is, so the YAML and the API's validation say it too.
  const held = typed !== task.name && (!typed || otherNames.includes(typed));
  useEffect(() => { onNameProblem(held ? nameProblem : null); }, [held, nameProblem]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => () => onNameProblem(null), []); // eslint-disable-line react-hooks/exhaustive-deps
  const duration = (field: DurationField, value: unknown) => durationProblem(value, field, task.name, limits);
  const action = actions.find((a) => a.ref === task.action);
  const others = (doc.tasks ?? []).map((t) => t.name).filter((n) => typeof n === "string");
  const input = (task.input ?? {}) as Record<string, unknown>;
  const set = (key: string, value: unknown) => onChange({ ...task, [key]: value });
  const setInput = (key: string, value: unknown) => {
    const next = { ...input, [key]: value };
    if (value === undefined) delete next[key];
    set("input", Object.keys(next).length ? next : undefined);
  };
  const next = task.next ?? [];
  const setNext = (i: number, tr: Transition | null) => {
    const list = [...next];
    if (tr === null) list.splice(i, 1); else list[i] = tr;
    set("next", list.length ? list : undefined);
  };
  const retry = (task.retry ?? undefined) as Record<string, unknown> | undefined;
  const setRetry = (key: string, value: unknown) => {
    const r: Record<string, unknown> = { ...(retry ?? {}), [key]: value };
    if (value === undefined || value === "") delete r[key];
    set("retry", Object.keys(r).length ? r : undefined);
  };
  const join = task.join;

  return (
    <div className="inspector" data-testid="task-inspector">
      <ProblemList problems={problems} />
      <div className={`field${nameProblem ? " invalid" : ""}`}>
        <label htmlFor="task-name">Task name</label>
        <input id="task-name" value={name} onChange={(e) => setName(e.target.value)}
          aria-invalid={nameProblem ? true : undefined} aria-describedby={nameProblem ? "task-name-problem" : undefined}
          onBlur={() => typed !== task.name && !held && onRename(typed)}
          onKeyDown={(e) => { if (e.key === "Enter") (e.target as HTMLInputElement).blur(); }} />
        <FieldError id="task-name" problem={nameProblem} />
      </div>
      <div className="field">
        <label htmlFor="task-action">Action</label>
        <select id="task-action" value={task.action} onChange={(e) => set("action", e.target.value)}>
          {!action && <option value={task.action}>{task.action} (not registered)</option>}
          {actions.map((a) => <option key={a.ref} value={a.ref}>{a.ref}{a.is_workflow ? " (workflow)" : ""}</option>)}
        </select>
      </div>

      <h3>Input</h3>
      {action && Object.keys(action.parameters).length === 0 && <p className="muted">{task.action} takes no parameters.</p>}
      {action && Object.entries(action.parameters).map(([p, spec]: [string, ParameterSpec]) => (
        <div className="field" key={p} data-field={p}>
          <label htmlFor={`input-${p}`}>{p}{spec.required && <span className="required"> *</span>}
            <span className="type">{spec.type}{spec.default !== undefined && spec.default !== null && spec.default !== "" ? ` · default ${fieldText(spec.default)}` : ""}</span></label>
          {spec.enum ? (
            <EnumInput id={`input-${p}`} name={p} spec={spec} value={input[p]} onChange={(v) => setInput(p, v)} />
          ) : (
            <ValueInput id={`input-${p}`} type={spec.type} value={input[p]} placeholder={spec.description ?? "value or {{ expression }}"}
              onChange={(v) => setInput(p, v)} />
          )}
        </div>
      ))}

      <h3>Transitions</h3>
      {next.map((tr, i) => {
        const kind = conditionKind(tr.when ?? null);
        const publish = Array.isArray(tr.publish) ? tr.publish as Record<string, unknown>[] : [];
        return (
          <fieldset className="transition" key={i} data-testid={`transition-${i}`}>
            <legend>Transition {i + 1}</legend>
            <div className="field">
              <label htmlFor={`when-${i}`}>When</label>
              <select id={`when-${i}`} value={kind} onChange={(e) => {
                const preset = PRESETS.find((p) => p.kind === e.target.value);
                const when = preset ? preset.when : (tr.when && kind === "custom" ? tr.when : "{{ result().succeeded }}");
                const out: Transition = { ...tr, when };
                if (!when) delete out.when;
                setNext(i, out);
              }}>
                {PRESETS.map((p) => <option key={p.kind} value={p.kind}>{p.label}</option>)}
                <option value="custom">custom expression</option>
              </select>
            </div>
            {kind === "custom" && (
              <Text label={`Expression ${i + 1}`} value={tr.when} onChange={(v) => setNext(i, { ...tr, when: v })} placeholder="{{ result().data.ok }}" />
            )}
            <div className="field">
              <span className="label">Then run</span>
              <div className="checks">
                {others.filter((n) => n !== undefined).map((n) => (
                  <label key={n} className="check">
                    <input type="checkbox" checked={asList(tr.do).includes(n)} onChange={(e) => {
                      const targets = asList(tr.do).filter((d) => d !== n);
                      if (e.target.checked) targets.push(n);
                      const out: Transition = { ...tr, do: targets };
                      if (!targets.length) delete out.do;
                      setNext(i, out);
                    }} /> {n}
                  </label>
                ))}
              </div>
            </div>
            <YamlField key={`pub-${task.name}-${i}`} label={`Publish ${i + 1} (name: value)`} rows={2}
              value={publish.length ? Object.assign({}, ...publish) : undefined}
              onChange={(v) => {
                const out: Transition = { ...tr };
                const entries = Object.entries((v ?? {}) as Record<string, unknown>);
                if (entries.length) out.publish = entries.map(([k, val]) => ({ [k]: val })); else delete out.publish;
                setNext(i, out);
              }} />
            <button className="link danger-text" onClick={() => setNext(i, null)}>Remove transition</button>
          </fieldset>
        );
      })}
      <button onClick={() => set("next", [...next, { when: "{{ succeeded() }}" }])}>+ Add transition</button>

      <h3>Join</h3>
      <div className="row">
        <select aria-label="Join" value={join === undefined || join === null ? "" : join === "all" ? "all" : "n"}
          onChange={(e) => set("join", e.target.value === "" ? undefined : e.target.value === "all" ? "all" : 2)}>
          <option value="">none (first trigger runs it)</option>
          <option value="all">all inbound tasks</option>
          <option value="n">a number of inbound tasks</option>
        </select>
        {typeof join === "number" && <input aria-label="Join count" type="number" min={1} value={join}
          onChange={(e) => set("join", e.target.value === "" ? undefined : Number(e.target.value))} />}
      </div>

      <h3>Items</h3>
      <Text label="with_items" value={task.with_items} onChange={(v) => set("with_items", v || undefined)} placeholder="{{ parameters.hosts }}" />
      <div className="row">
        <Num label="concurrency" value={task.concurrency} disabled={!task.with_items} onChange={(v) => set("concurrency", v)} />
        <Num label="batch_size" value={task.batch_size} disabled={!task.with_items} onChange={(v) => set("batch_size", v)} />
      </div>

      <h3>Retry, timeout, delay</h3>
      <div className="row">
        <Num label="retry count" value={retry?.count} onChange={(v) => setRetry("count", v)} />
        <Num label="retry delay (s)" value={retry?.delay} problem={duration("retry.delay", retry?.delay)} onChange={(v) => setRetry("delay", v)} />
      </div>
      <div className="row">
        <div className="field">
          <label htmlFor="retry-backoff">backoff</label>
          <select id="retry-backoff" value={String(retry?.backoff ?? "")} onChange={(e) => setRetry("backoff", e.target.value || undefined)}>
            <option value="">constant (default)</option>
            <option value="linear">linear</option>
            <option value="exponential">exponential</option>
          </select>
        </div>
        <Num label="max delay (s)" value={retry?.max_delay} problem={duration("retry.max_delay", retry?.max_delay)} onChange={(v) => setRetry("max_delay", v)} />
      </div>
      <div className="row">
        <Num label="timeout (s)" value={task.timeout} problem={duration("timeout", task.timeout)} onChange={(v) => set("timeout", v)} />
        <Num label="delay (s)" value={task.delay} problem={duration("delay", task.delay)} onChange={(v) => set("delay", v)} />
      </div>
      <div className="row end">
        <button className="danger-outline" onClick={onDelete}>Delete task</button>
      </div>
    </div>
  );
}

interface WorkflowProps {
  doc: Doc;
  label: string;
  parameters: Record<string, ParameterSpec>;
  problems: Problem[];
  onDoc: (d: Doc) => void;
  onLabel: (l: string) => void;
  onParameters: (p: Record<string, ParameterSpec>) => void;
}

export function WorkflowInspector({ doc, label, parameters, problems, onDoc, onLabel, onParameters }: WorkflowProps) {
  const set = (key: string, value: unknown) => {
    const out: Doc = { ...doc, [key]: value };
    if (value === undefined || value === "") delete out[key];
    onDoc(out);
  };
  const rows = Object.entries(parameters);
  const setParam = (old: string, name: string, spec: ParameterSpec) => {
    const out: Record<string, ParameterSpec> = {};
    for (const [n, s] of rows) {
      if (n === old) out[name] = spec; else out[n] = s;
    }
    onParameters(out);
  };
  return (
    <div className="inspector" data-testid="workflow-inspector">
      <ProblemList problems={problems} />
      <Text label="Label" value={label} onChange={onLabel} />
      <Text label="Description" value={doc.description} onChange={(v) => set("description", v || undefined)} />
      <Text label="Version" value={doc.version} onChange={(v) => set("version", v)} />
      <div className="field">
        <label htmlFor="wf-cancel">Cancellation policy</label>
        <select id="wf-cancel" value={String(doc.cancellation_policy ?? "")} onChange={(e) => set("cancellation_policy", e.target.value || undefined)}>
          <option value="">allow_finish (default)</option>
          <option value="cancel_running">cancel_running</option>
        </select>
      </div>
      <h3>Parameters</h3>
      {rows.length === 0 && <p className="muted">No parameters.</p>}
      {rows.map(([n, spec], i) => (
        <fieldset key={i} className="param-row">
          <legend>{n}</legend>
          <div className="row">
            <div className="field"><label htmlFor={`pn-${i}`}>name</label>
              <input id={`pn-${i}`} defaultValue={n} onBlur={(e) => e.target.value.trim() && e.target.value !== n && setParam(n, e.target.value.trim(), spec)} /></div>
            <div className="field"><label htmlFor={`pt-${i}`}>type</label>
              <select id={`pt-${i}`} value={spec.type} onChange={(e) => setParam(n, n, { ...spec, type: e.target.value as ParamType })}>
                {PARAM_TYPES.map((t) => <option key={t}>{t}</option>)}
              </select></div>
          </div>
          <div className="row">
            <div className="field"><label htmlFor={`pd-${i}`}>default</label>
              <ValueInput id={`pd-${i}`} type={spec.type} value={spec.default} onChange={(v) => {
                const out = { ...spec, default: v };
                if (v === undefined) delete out.default;
                setParam(n, n, out);
              }} /></div>
            <label className="check"><input type="checkbox" checked={!!spec.required} onChange={(e) => setParam(n, n, { ...spec, required: e.target.checked || undefined })} /> required</label>
            <label className="check"><input type="checkbox" checked={!!spec.secret} onChange={(e) => setParam(n, n, { ...spec, secret: e.target.checked || undefined })} /> secret</label>
          </div>
          <button className="link danger-text" onClick={() => onParameters(Object.fromEntries(rows.filter(([m]) => m !== n)))}>Remove parameter</button>
        </fieldset>
      ))}
      <button onClick={() => {
        let name = "param";
        for (let i = 2; name in parameters; i++) name = `param${i}`;
        onParameters({ ...parameters, [name]: { type: "string" } });
      }}>+ Add parameter</button>
      <h3>Variables and output</h3>
      <YamlField label="vars" value={doc.vars} onChange={(v) => set("vars", v)} />
      <YamlField label="output_map" value={doc.output_map} onChange={(v) => set("output_map", v)} />
    </div>
  );
}
