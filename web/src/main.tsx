import { StrictMode, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, NavLink, Route, Routes, useLocation, useParams, useSearchParams } from "react-router-dom";
import "./style.css";
import { api, getToken, onUnauthorized, setToken } from "./api";
import { useLoad } from "./hooks";
import { Announcer, focusElement, pageHeading, trapTab, usePageTitle } from "./components/common";
import type { Inquiry, Page } from "./types";
import { ExecutionsPage } from "./pages/ExecutionsPage";
import { CatalogPage } from "./pages/CatalogPage";
import { PacksPage } from "./pages/PacksPage";
import { ActionPage } from "./pages/ActionPage";
import { InquiriesPage, InquiryPage } from "./pages/InquiriesPage";

// The graph pages (React Flow, dagre, the YAML parser) are in the one bundle: loaded lazily, a
// direct visit paid ~600 ms more for the second round of parsing than the lists saved (bench.ui_pages).
import { ExecutionPage } from "./pages/ExecutionPage";
import { WorkflowBuilderPage } from "./pages/WorkflowBuilderPage";

function TokenDialog({ onDone }: { onDone: () => void }) {
  const [value, setValue] = useState("");
  const hadToken = getToken() !== null;
  const box = useRef<HTMLDivElement>(null);
  return (
    // Modal: the page behind is inert (the shell, in App) and Tab cycles within the dialog.
    <div className="overlay" role="dialog" aria-modal="true" aria-labelledby="token-title" ref={box}
      onKeyDown={(ev) => trapTab(ev, box.current)}>
      <form className="dialog" onSubmit={(e) => { e.preventDefault(); setToken(value.trim()); onDone(); }}>
        <h2 id="token-title">API token required</h2>
        <p>This API is protected by <code>ATTUNE_API_TOKEN</code>. Enter the token to continue;
          it is kept for this browser tab only.</p>
        {hadToken && <p className="field-error" role="alert">The token was refused.</p>}
        <label htmlFor="token-input">Token</label>
        <input id="token-input" type="password" autoFocus autoComplete="current-password"
          value={value} onChange={(e) => setValue(e.target.value)} />
        <div className="row end">
          <button type="submit" className="primary" disabled={!value.trim()}>Continue</button>
        </div>
      </form>
    </div>
  );
}

/** The Inquiries link, with how many inquiries wait for an answer beside it (people should not
 *  have to look). It reads "Inquiries, 2 pending": the badge is for the eye. */
function InquiriesLink() {
  const pending = useLoad(() => api<Page<Inquiry>>("/inquiries", { query: { status: "pending", per_page: 1 } }),
    [], { everyMs: 5000 });
  const n = pending.data?.pagination.total_items ?? 0;
  return (
    <NavLink to="/inquiries" aria-label={n > 0 ? `Inquiries, ${n} pending` : undefined}>
      Inquiries {n > 0 && <span className="count" data-testid="pending-inquiries" aria-hidden="true">{n}</span>}
    </NavLink>
  );
}

/** On a move to another page, focus goes to its heading (once it has loaded) so a screen reader
 *  says where it is: the link that was followed is gone, or stays behind in the sidebar. Not on the
 *  first page, and not when the page put focus somewhere itself (a search field). */
function FocusOnNavigation() {
  const { pathname } = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) { first.current = false; return; }
    const main = document.getElementById("main");
    if (!main || main.contains(document.activeElement)) return;
    const from = document.activeElement;
    const deadline = Date.now() + 3000;
    let timer = 0;
    const tick = () => {
      const now = document.activeElement;
      if (now !== from && now !== document.body && now?.isConnected) return; // focus went somewhere
      const heading = pageHeading();
      if (heading) focusElement(heading);
      else if (Date.now() > deadline) main.focus();
      else timer = window.setTimeout(tick, 50);
    };
    tick();
    return () => window.clearTimeout(timer);
  }, [pathname]);
  return null;
}

function NotFound() {
  usePageTitle("Not found");
  return <div className="page"><h1>Not found</h1><p>No page here. <NavLink to="/executions">Executions</NavLink></p></div>;
}

/** The action page, with its window title named from the route: its Edit & re-run form
 *  (`?rerun=N`) is another page than its Run form, and is named so. */
function ActionRoute() {
  const ref = useParams().ref ?? "";
  const rerun = Number(useSearchParams()[0].get("rerun")) || null; // as ActionPage reads it
  usePageTitle(rerun ? `Re-run ${rerun} · ${ref}` : `Action ${ref}`);
  return <ActionPage />;
}

function App() {
  const [needToken, setNeedToken] = useState(false);
  const [epoch, setEpoch] = useState(0);
  useEffect(() => onUnauthorized(() => setNeedToken(true)), []);
  return (
    <BrowserRouter>
      <FocusOnNavigation />
      <div className="shell" inert={needToken}>
        <a className="skip" href="#main">Skip to content</a>
        <nav className="sidebar" aria-label="Main">
          <div className="brand"><img src="/favicon.svg" alt="" width="26" height="26" /> Attune</div>
          <NavLink to="/executions">Executions</NavLink>
          <InquiriesLink key={epoch} />
          <NavLink to="/actions" end>Actions</NavLink>
          <NavLink to="/packs">Packs</NavLink>
          <NavLink to="/workflows/new">New workflow</NavLink>
          <div className="sidebar-foot">
            <a href="/docs">API docs</a>
            {getToken() && <button className="link" onClick={() => { setToken(null); location.reload(); }}>Forget token</button>}
          </div>
        </nav>
        <main id="main" key={epoch} tabIndex={-1}>
          <Routes>
            <Route path="/" element={<Navigate to="/executions" replace />} />
            <Route path="/executions" element={<ExecutionsPage />} />
            <Route path="/executions/:id" element={<ExecutionPage />} />
            <Route path="/inquiries" element={<InquiriesPage />} />
            <Route path="/inquiries/:id" element={<InquiryPage />} />
            <Route path="/actions" element={<CatalogPage />} />
            <Route path="/actions/:ref" element={<ActionRoute />} />
            <Route path="/packs" element={<PacksPage />} />
            <Route path="/workflows/new" element={<WorkflowBuilderPage />} />
            <Route path="/workflows/:ref/edit" element={<WorkflowBuilderPage />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </main>
      </div>
      <Announcer />
      {needToken && <TokenDialog onDone={() => { setNeedToken(false); setEpoch((e) => e + 1); }} />}
    </BrowserRouter>
  );
}

createRoot(document.getElementById("root")!).render(<StrictMode><App /></StrictMode>);
