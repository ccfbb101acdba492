// One action: what it is, and a form generated from its parameters that runs it. With
// `?rerun=ID` the same form, prefilled with that execution's parameters, re-runs it instead.
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { api, ApiError, post } from "../api";
import { ErrorBanner, Section, StatusBadge } from "../components/common";
import {
  focusFirstInvalid, hasFieldProblem, initialValues, keptSecrets, ParamForm, problemsByField, toParameters, type FormValues,
} from "../components/ParamForm";
import { useLoad } from "../hooks";
import { REDACTED, type Action, type Execution, type Item } from "../types";

export function ActionPage() {
  const ref = useParams().ref!;
  const [query] = useSearchParams();
  const rerunOf = Number(query.get("rerun")) || null;
  // A fresh form per action and per run re-run: no values of the last one linger.
  return <ActionView key={`${ref}:${rerunOf}`} actionRef={ref} rerunOf={rerunOf} fromFailed={query.get("from_failed") === "1"} />;
}

function ActionView({ actionRef: ref, rerunOf, fromFailed: askedFromFailed }: {
  actionRef: string; rerunOf: number | null; fromFailed: boolean;
}) {
  const navigate = useNavigate();
  const action = useLoad(() => api<Item<Action>>(`/actions/${ref}`).then((r) => r.data), [ref]);
  const original = useLoad(async () => rerunOf ? (await api<Item<Execution>>(`/executions/${rerunOf}`)).data : undefined, [rerunOf]);
  const [values, setValues] = useState<FormValues>({});
  const [fromFailed, setFromFailed] = useState(askedFromFailed);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string[]>>({});
  const [error, setError] = useState<ApiError>();
  const [running, setRunning] = useState(false);
  const [refused, setRefused] = useState(0); // bumped by each refused submit: focus what to fix
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (action.data && (!rerunOf || original.data)) {
      setValues(initialValues(action.data.parameters, original.data?.config ?? {}));
    }
  }, [action.data, original.data, rerunOf]);
  useEffect(() => {
    if (refused) focusFirstInvalid(formRef.current);
  }, [refused]);

  const loadError = action.error ?? original.error;
  if (loadError) return <div className="page"><ErrorBanner error={loadError} /></div>;
  const a = action.data;
  if (!a || (rerunOf && !original.data)) return <div className="page"><p className="muted">Loading…</p></div>;
  const o = original.data;
  const canFromFailed = !!o && a.is_workflow && o.status === "failed";
  const kept = o ? keptSecrets(a.parameters, o.config ?? {}, o.id) : undefined;
  const blocked = hasFieldProblem(a.parameters, values, kept);

  // While a run starts the button is aria-disabled, not disabled: disabling the focused button
  // dropped keyboard focus to <body>. A refused run then moves focus to the first wrong field.
  const run = async (e: React.FormEvent) => {
    e.preventDefault();
    if (running || blocked) return;
    setRunning(true);
    setError(undefined);
    setFieldErrors({});
    try {
      const parameters = toParameters(a.parameters, values, { given: o ? (o.config ?? {}) : undefined });
      const res = o
        ? await post<Item<Execution>>(`/executions/${o.id}/rerun`, { parameters, from_failed: canFromFailed && fromFailed })
        : await post<Item<Execution>>("/executions/execute", { action_ref: a.ref, parameters });
      navigate(`/executions/${res.data.id}`);
    } catch (err) {
      const apiErr = err as ApiError;
      const { byField, rest } = problemsByField(apiErr.details ?? [], "parameters", a.parameters);
      setFieldErrors(byField);
      setError(new ApiError(apiErr.status, apiErr.code, apiErr.message, rest));
      setRefused((n) => n + 1);
    } finally {
      setRunning(false);
    }
  };

  const secrets = !!kept && kept.names.size > 0;
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <div className="crumbs"><Link to="/actions">Actions</Link> / <Link to={`/actions?pack=${a.pack_ref}`}>{a.pack_ref}</Link></div>
          <h1><span className="ref">{a.ref}</span> {a.label && <span className="muted">{a.label}</span>}</h1>
        </div>
        <div className="row">
          <Link className="button" to={`/executions?action=${a.ref}`}>Executions</Link>
          {a.is_workflow && <Link className="button" to={`/workflows/${a.ref}/edit`}>Edit workflow</Link>}
        </div>
      </header>
      {a.description && <p className="lead">{a.description}</p>}
      <dl className="facts">
        <div><dt>Runs</dt><dd>{a.is_workflow ? `workflow (${a.workflow_file})` : `${a.runner} · ${a.entry_point}`}</dd></div>
        {/* A workflow is bounded by its tasks' own timeouts; its timeout_seconds is only kept on
            the record (README), so showing it read as a limit that never applies. */}
        <div><dt>Timeout</dt><dd>{a.is_workflow ? "its tasks' own timeouts" : `${a.timeout_seconds} s`}</dd></div>
        <div><dt>Enabled</dt><dd>{a.enabled ? "yes" : "no"}</dd></div>
        {a.tags.length > 0 && <div><dt>Tags</dt><dd>{a.tags.join(", ")}</dd></div>}
      </dl>
      <Section title={o ? `Re-run #${o.id}` : "Run"}>
        <form onSubmit={run} noValidate data-testid="run-form" ref={formRef}>
          {o && (
            <p className="rerun-note" data-testid="rerun-note">
              Re-runs <Link to={`/executions/${o.id}`}>#{o.id}</Link> <StatusBadge status={o.status} /> with
              the parameters below, prefilled with what it ran with; a field left empty is not
              given (its default applies), as in a fresh run.
              {secrets && <> A secret left as <code>{REDACTED}</code> keeps its original value.</>}
              {" "}<Link to={`/actions/${a.ref}`}>Run afresh instead</Link>
            </p>
          )}
          <ParamForm params={a.parameters} values={values} onChange={setValues} errors={fieldErrors} kept={kept} />
          {canFromFailed && (
            <label className="check from-failed">
              <input type="checkbox" name="from_failed" checked={fromFailed} onChange={(e) => setFromFailed(e.target.checked)} />
              From the failed tasks: the tasks that succeeded keep their results and are not run again
            </label>
          )}
          {/* focus goes to the first wrong field, which names its problem: the banner is not
              announced as well (both at once, one is lost) */}
          <ErrorBanner error={error} quiet={Object.keys(fieldErrors).length > 0} />
          <div className="row">
            <button type="submit" className="primary" disabled={blocked || !a.enabled} aria-disabled={running}>
              {running ? "Starting…" : o ? (canFromFailed && fromFailed ? "Re-run from failed" : "Re-run") : "Run"}
            </button>
            {!a.enabled && <span className="muted">This action is disabled.</span>}
          </div>
        </form>
      </Section>
    </div>
  );
}
