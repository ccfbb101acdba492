// One action: what it is, and a form generated from its parameters that runs it.
import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, ApiError, post } from "../api";
import { ErrorBanner, Section } from "../components/common";
import { initialValues, jsonProblem, ParamForm, toParameters, type FormValues } from "../components/ParamForm";
import { useLoad } from "../hooks";
import type { Action, Execution, Item } from "../types";

export function ActionPage() {
  const ref = useParams().ref!;
  const navigate = useNavigate();
  const action = useLoad(() => api<Item<Action>>(`/actions/${ref}`).then((r) => r.data), [ref]);
  const [values, setValues] = useState<FormValues>({});
  const [fieldErrors, setFieldErrors] = useState<Record<string, string[]>>({});
  const [error, setError] = useState<ApiError>();
  const [running, setRunning] = useState(false);
  useEffect(() => { if (action.data) setValues(initialValues(action.data.parameters)); }, [action.data]);

  if (action.error) return <div className="page"><ErrorBanner error={action.error} /></div>;
  const a = action.data;
  if (!a) return <div className="page"><p className="muted">Loading…</p></div>;
  const blocked = Object.entries(a.parameters).some(([n, s]) => typeof values[n] === "string" && jsonProblem(s, values[n] as string));

  const run = async (e: React.FormEvent) => {
    e.preventDefault();
    setRunning(true);
    setError(undefined);
    setFieldErrors({});
    try {
      const res = await post<Item<Execution>>("/executions/execute", { action_ref: a.ref, parameters: toParameters(a.parameters, values) });
      navigate(`/executions/${res.data.id}`);
    } catch (err) {
      const apiErr = err as ApiError;
      const byField: Record<string, string[]> = {};
      const rest = (apiErr.details ?? []).filter((d) => {
        const m = /^parameters\.([^.[]+)/.exec(d.path ?? "");
        if (m && m[1] in a.parameters) {
          (byField[m[1]] ??= []).push(d.message);
          return false;
        }
        return true;
      });
      setFieldErrors(byField);
      setError(new ApiError(apiErr.status, apiErr.code, apiErr.message, rest));
    } finally {
      setRunning(false);
    }
  };

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
        <div><dt>Timeout</dt><dd>{a.timeout_seconds} s</dd></div>
        <div><dt>Enabled</dt><dd>{a.enabled ? "yes" : "no"}</dd></div>
        {a.tags.length > 0 && <div><dt>Tags</dt><dd>{a.tags.join(", ")}</dd></div>}
      </dl>
      <Section title="Run">
        <form onSubmit={run} noValidate data-testid="run-form">
          <ParamForm params={a.parameters} values={values} onChange={setValues} errors={fieldErrors} />
          <ErrorBanner error={error} />
          <div className="row">
            <button type="submit" className="primary" disabled={running || blocked || !a.enabled}>
              {running ? "Starting…" : "Run"}
            </button>
            {!a.enabled && <span className="muted">This action is disabled.</span>}
          </div>
        </form>
      </Section>
    </div>
  );
}
