// The action catalog: search by ref, label, tag or pack; workflows and script actions together.
import { Link, useSearchParams } from "react-router-dom";
import { Empty, ErrorBanner, usePageTitle } from "../components/common";
import { loadActions, loadPacks, matches } from "../catalog";
import { urlNow, useLoad } from "../hooks";

export function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const pack = params.get("pack") ?? "";
  const kind = params.get("kind") ?? "";
  // From the URL as it is when the change applies, not as this render saw it: a filter picked
  // right after the search was cleared brought the old search text back.
  const set = (k: string, v: string) => setParams(() => {
    const next = urlNow();
    if (v) next.set(k, v); else next.delete(k);
    return next;
  }, { replace: true });
  usePageTitle("Actions");
  const actions = useLoad(loadActions, []);
  const packs = useLoad(loadPacks, []);
  const shown = (actions.data ?? []).filter((a) => (!pack || a.pack_ref === pack)
    && (!kind || (kind === "workflow") === a.is_workflow) && matches(a, q));

  return (
    <div className="page">
      <header className="page-head">
        <h1>Actions</h1>
        <Link className="button primary" to={`/workflows/new${pack ? `?pack=${pack}` : ""}`}>New workflow</Link>
      </header>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label className="grow">Search
          <input type="search" name="q" value={q} autoFocus placeholder="ref, label, tag or pack"
            onChange={(e) => set("q", e.target.value)} />
        </label>
        <label>Pack
          <select name="pack" value={pack} onChange={(e) => set("pack", e.target.value)}>
            <option value="">all packs</option>
            {(packs.data ?? []).map((p) => <option key={p.ref} value={p.ref}>{p.ref}</option>)}
          </select>
        </label>
        <label>Kind
          <select name="kind" value={kind} onChange={(e) => set("kind", e.target.value)}>
            <option value="">all</option>
            <option value="workflow">workflows</option>
            <option value="action">script actions</option>
          </select>
        </label>
      </form>
      <ErrorBanner error={actions.error ?? packs.error} />
      {actions.data && (
        <div className="table-scroll">
        <table className="table" data-testid="catalog-table">
          <thead><tr><th>Ref</th><th>Label</th><th>Runs on</th><th>Tags</th><th>Description</th></tr></thead>
          <tbody>
            {shown.map((a) => (
              <tr key={a.ref} data-ref={a.ref}>
                <td><Link className="ref" to={`/actions/${a.ref}`}>{a.ref}</Link></td>
                <td>{a.label ?? "—"}</td>
                <td>{a.is_workflow ? <span className="chip workflow">workflow</span> : <span className="chip">{a.runner}</span>}</td>
                <td>{a.tags.map((t) => <button key={t} className="chip tag" onClick={() => set("q", t)}>{t}</button>)}</td>
                <td className="muted clip">{a.description ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
      {actions.data && shown.length === 0 && <Empty>No action matches.</Empty>}
    </div>
  );
}
