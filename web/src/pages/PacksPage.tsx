import { Link } from "react-router-dom";
import { ErrorBanner, usePageTitle } from "../components/common";
import { loadPacks } from "../catalog";
import { useLoad } from "../hooks";

export function PacksPage() {
  usePageTitle("Packs");
  const packs = useLoad(loadPacks, []);
  return (
    <div className="page">
      <header className="page-head"><h1>Packs</h1></header>
      <ErrorBanner error={packs.error} />
      {packs.data && (
        <div className="table-scroll">
        <table className="table" data-testid="packs-table">
          <thead><tr><th>Pack</th><th>Label</th><th>Version</th><th>Actions</th><th>Directory</th></tr></thead>
          <tbody>
            {packs.data.map((p) => (
              <tr key={p.ref}>
                <td><Link className="ref" to={`/actions?pack=${p.ref}`}>{p.ref}</Link></td>
                <td>{p.label ?? "—"}<div className="muted">{p.description ?? ""}</div></td>
                <td>{p.version}</td>
                <td className="num">{p.actions.length}</td>
                <td className="muted"><code>{p.path ?? "created through the API"}</code></td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </div>
  );
}
