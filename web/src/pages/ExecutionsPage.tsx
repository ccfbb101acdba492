// The executions list: newest first, the CLI's filters, server-side paging, refreshed live.
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api } from "../api";
import { Empty, ErrorBanner, LiveHead, Pager, StatusBadge } from "../components/common";
import { duration, when } from "../format";
import { urlNow, useDebounced, useLoad } from "../hooks";
import { STATUSES, type Execution, type Page } from "../types";

const PER_PAGE = 50;
const REFRESH_MS = 2000;

export function ExecutionsPage() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const action = params.get("action") ?? "";
  const parent = params.get("parent") ?? "";
  const topLevelOnly = params.get("all") !== "1" && !parent;
  const page = Math.max(1, Number(params.get("page") ?? 1) || 1);
  const [actionText, setActionText] = useState(action);
  const settledAction = useDebounced(actionText, 300);

  // Each change is a step Back undoes (a filter as much as a page), except what is being typed:
  // the action and parent fields replace their own entry, not one per keystroke.
  const update = (changes: Record<string, string | null>, typing = false) => setParams(() => {
    const next = urlNow();  // the URL now, not as this render saw it
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!("page" in changes)) next.delete("page");
    return next;
  }, { replace: typing });
  const lastPage = (last: number) => update({ page: last > 1 ? String(last) : null });
  useEffect(() => {
    // The first keystrokes of a filter make a step of their own (Back returns to the list
    // without it); what follows while typing replaces that step.
    if (settledAction !== action) update({ action: settledAction.trim() || null }, urlNow().has("action"));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [settledAction]);
  useEffect(() => {
    // Back and Forward change the URL under the field: it shows the URL's filter, not the last typed.
    if (action !== settledAction.trim()) setActionText(action);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [action]);

  const list = useLoad(
    () => api<Page<Execution>>("/executions", {
      query: { status, action_ref: action, parent, top_level_only: topLevelOnly, page, per_page: PER_PAGE },
    }),
    [status, action, parent, topLevelOnly, page],
    { everyMs: REFRESH_MS },
  );
  const now = Date.now();

  return (
    <div className="page">
      <LiveHead title="Executions" everyMs={REFRESH_MS} />
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>Status
          <select value={status} onChange={(e) => update({ status: e.target.value || null })} name="status">
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>Action
          <input name="action" value={actionText} placeholder="pack.name or pack.*"
            onChange={(e) => setActionText(e.target.value)} />
        </label>
        <label>Parent
          <input name="parent" value={parent} inputMode="numeric" placeholder="execution id" size={10}
            onChange={(e) => update({ parent: e.target.value.trim() || null }, true)} />
        </label>
        <label className="check">
          <input type="checkbox" name="top_level_only" checked={topLevelOnly} disabled={!!parent}
            onChange={(e) => update({ all: e.target.checked ? null : "1" })} />
          Top-level only
        </label>
      </form>
      <ErrorBanner error={list.error} />
      {list.data && (
        <>
          <div className="table-scroll">
          <table className="table" data-testid="executions-table">
            <thead>
              <tr><th>ID</th><th>Status</th><th>Action</th><th>Origin</th><th>Started</th><th>Duration</th></tr>
            </thead>
            <tbody>
              {list.data.items.map((e) => (
                <tr key={e.id} data-id={e.id}>
                  <td className="num"><Link to={`/executions/${e.id}`}>{e.id}</Link></td>
                  <td><StatusBadge status={e.status} /></td>
                  <td><Link to={`/executions/${e.id}`} className="ref">{e.action_ref}</Link></td>
                  <td className="muted">
                    {e.workflow_task ? <>{e.workflow_task.task_name}{e.workflow_task.task_index != null ? ` [${e.workflow_task.task_index}]` : ""} of <Link className="id" to={`/executions/${e.parent}`}>#{e.parent}</Link></>
                      : e.rerun_of ? <>re-run of <Link className="id" to={`/executions/${e.rerun_of}`}>#{e.rerun_of}</Link></> : "—"}
                  </td>
                  <td>{when(e.started_at ?? e.created)}</td>
                  <td className="num">{duration(e.started_at, e.ended_at, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
          {list.data.items.length === 0 && (list.data.pagination.total_items > 0 && page > 1 ? (
            <Empty>Page {page} is past the last page ({list.data.pagination.total_pages}).{" "}
              <button className="link" onClick={() => lastPage(list.data?.pagination.total_pages ?? 1)}>
                Go to the last page</button></Empty>
          ) : <Empty>No executions match these filters.</Empty>)}
          <Pager p={list.data.pagination} onPage={(p) => update({ page: p > 1 ? String(p) : null })} />
        </>
      )}
    </div>
  );
}
