// Inquiries: the questions workflows wait on. Pending ones first (the default filter), each with
// its response form; refreshed live. One inquiry also has its own page (linked from its run).
import { useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { api } from "../api";
import { TerminalText } from "../components/TerminalText";
import { Empty, ErrorBanner, LiveHead, NotAnId, isId, Pager, usePageTitle } from "../components/common";
import { InquiryCard, noticeId, type Notice } from "../components/InquiryCard";
import { urlNow, useLoad } from "../hooks";
import { INQUIRY_STATUSES, type Inquiry, type Item, type Page } from "../types";

const PER_PAGE = 20;
const REFRESH_MS = 2000;

export function InquiriesPage() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "pending";
  const execution = params.get("execution") ?? "";
  const page = Math.max(1, Number(params.get("page") ?? 1) || 1);
  const [notices, setNotices] = useState<Notice[]>([]);
  const update = (changes: Record<string, string | null>) => setParams(() => {
    const next = urlNow();  // the URL now, not as this render saw it
    for (const [k, v] of Object.entries(changes)) {
      if (v !== null) next.set(k, v);
      else next.delete(k);
    }
    if (!("page" in changes)) next.delete("page");
    return next;
  }, { replace: !("page" in changes) });
  const list = useLoad(
    () => api<Page<Inquiry>>("/inquiries", { query: { status: status === "any" ? "" : status, execution, page, per_page: PER_PAGE } }),
    [status, execution, page], { everyMs: REFRESH_MS });
  const changed = (n: Notice) => {
    setNotices((ns) => [n, ...ns.filter((o) => o.inquiry !== n.inquiry)].slice(0, 5));
    list.reload();
  };
  const listed = new Set((list.data?.items ?? []).map((q) => q.id));

  return (
    <div className="page">
      <LiveHead title="Inquiries" everyMs={REFRESH_MS} />
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>Status
          <select name="status" value={status} onChange={(e) => update({ status: e.target.value === "pending" ? null : e.target.value })}>
            {INQUIRY_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
            <option value="any">any</option>
          </select>
        </label>
        <label>Asked by
          <input name="execution" value={execution} inputMode="numeric" placeholder="execution id" size={10}
            onChange={(e) => update({ execution: e.target.value.replace(/\D/g, "") || null })} />
        </label>
      </form>
      {/* What happened to an inquiry this page no longer lists (answered here, so no longer pending).
          Not announced: the card said it (an answer in the live region, a refusal as its alert)
          before it left, and focus comes here, which reads it. */}
      <div>
        {notices.filter((n) => !listed.has(n.inquiry)).map((n) => (
          <div key={n.inquiry} id={noticeId(n.inquiry)} className={`banner ${n.ok ? "ok" : "error"}`}
            data-testid="inquiry-notice">
            <TerminalText text={n.text} /> <Link to={`/inquiries/${n.inquiry}`}>Open inquiry #{n.inquiry}</Link>
          </div>
        ))}
      </div>
      <ErrorBanner error={list.error} />
      {list.data && (
        <>
          {list.data.items.map((q) => <InquiryCard key={q.id} inquiry={q} onChanged={changed} />)}
          {list.data.items.length === 0 && (
            <Empty>{status === "pending" ? "Nobody is being asked anything right now." : "No inquiries match these filters."}</Empty>
          )}
          {list.data.pagination.total_pages > 1 && (
            <Pager p={list.data.pagination} onPage={(p) => update({ page: p > 1 ? String(p) : null })} />
          )}
        </>
      )}
    </div>
  );
}

export function InquiryPage() {
  const raw = useParams().id ?? "";
  if (!isId(raw)) return <NotAnId what="inquiry" given={raw} list="/inquiries" />;
  const id = Number(raw);
  return <InquiryView key={id} id={id} />; // a fresh form per inquiry
}

function InquiryView({ id }: { id: number }) {
  usePageTitle(`Inquiry ${id}`);
  const q = useLoad(() => api<Item<Inquiry>>(`/inquiries/${id}`).then((r) => r.data), [id],
    { everyMs: REFRESH_MS, live: (d) => !d || d.status === "pending" });
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <div className="crumbs"><Link to="/inquiries">Inquiries</Link> / #{id}</div>
          <h1>Inquiry #{id}</h1>
        </div>
      </header>
      <ErrorBanner error={q.error} />
      {q.data ? <InquiryCard inquiry={q.data} onChanged={q.reload} /> : !q.error && <p className="muted">Loading…</p>}
    </div>
  );
}
