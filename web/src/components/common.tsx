import { useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { ApiError } from "../api";
import { stringify } from "../json";
import { TerminalText } from "./TerminalText";
import type { Pagination, Status } from "../types";

/** The window's title for this page, "<what> — Attune" (tabs, history and screen readers name
 *  the page by it); undefined while the page does not know yet. */
export function usePageTitle(title: string | undefined) {
  useEffect(() => {
    if (title !== undefined) document.title = `${title} — Attune`;
  }, [title]);
}

const ANNOUNCER_ID = "announcer";

/** The page's one polite live region (main.tsx): what an action did, said once to a screen reader. */
export function Announcer() {
  return <div id={ANNOUNCER_ID} className="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer" />;
}

/** Say `text` through the live region. Results only: refusals are alerts of their own (ErrorBanner). */
export function announce(text: string) {
  const region = document.getElementById(ANNOUNCER_ID);
  if (!region) return;
  // Emptied first, then filled on the next frame: the same words twice are still a change.
  region.textContent = "";
  window.setTimeout(() => { region.textContent = text; }, 50);
}

/** After an action whose control goes away (answered, cancelled, replaced), put focus on what
 *  `find` returns whenever focus is lost within `withinMs`: focus left on <body> starts a keyboard
 *  user over from the top. Nothing moves once the person has moved focus elsewhere. */
export function keepFocus(find: () => HTMLElement | null | undefined, withinMs = 4000) {
  const ours = new Set<Element | null>([document.activeElement]);
  const deadline = Date.now() + withinMs;
  const tick = () => {
    const now = document.activeElement;
    const lost = !now || now === document.body || !now.isConnected || isDisabled(now);
    if (!lost && !ours.has(now)) return; // moved on by the person: leave it
    if (lost) {
      const target = find();
      if (target && target !== now) { focusElement(target); ours.add(target); }
    }
    if (Date.now() < deadline) window.setTimeout(tick, 50);
  };
  window.setTimeout(tick, 0);
}

function isDisabled(el: Element): boolean {
  return (el as HTMLButtonElement).disabled === true;
}

/** Focus an element that may not be focusable by itself (a heading): tabIndex -1 makes it so. */
export function focusElement(el: HTMLElement) {
  if (el.tabIndex < 0 && !el.hasAttribute("tabindex")) el.tabIndex = -1;
  el.focus();
}

/** The main heading of the page shown now. */
export function pageHeading(): HTMLElement | null {
  return document.querySelector<HTMLElement>("main h1");
}

const FOCUSABLE = "a[href], button:not(:disabled), input:not(:disabled), select:not(:disabled), textarea:not(:disabled), [tabindex]:not([tabindex='-1'])";

/** Keep Tab and Shift-Tab inside `container` (a modal dialog): from its last control to its first. */
export function trapTab(ev: KeyboardEvent, container: HTMLElement | null) {
  if (ev.key !== "Tab" || !container) return;
  const items = [...container.querySelectorAll<HTMLElement>(FOCUSABLE)];
  if (items.length === 0) { ev.preventDefault(); return; }
  const [first, last] = [items[0], items[items.length - 1]];
  const at = document.activeElement;
  if (ev.shiftKey && (at === first || !container.contains(at))) { ev.preventDefault(); last.focus(); }
  else if (!ev.shiftKey && (at === last || !container.contains(at))) { ev.preventDefault(); first.focus(); }
}

/** A list page's title with the sign that it refreshes itself every `everyMs`. */
export function LiveHead({ title, everyMs }: { title: string; everyMs: number }) {
  usePageTitle(title);
  return (
    <header className="page-head">
      <h1>{title}</h1>
      <span className="live" title={`Refreshed every ${everyMs / 1000} s`}>● live</span>
    </header>
  );
}

export function StatusBadge({ status }: { status: Status | string }) {
  return <span className={`badge status-${status}`} data-status={status}>{status}</span>;
}

/** An error, announced as an alert. `quiet`: shown, not announced (focus goes to a field that
 *  names the problem itself: two announcements at once, one is lost). */
export function ErrorBanner({ error, quiet = false }: { error: ApiError | string | undefined | null; quiet?: boolean }) {
  if (!error) return null;
  const e = typeof error === "string" ? new ApiError(0, "error", error) : error;
  if (e.status === 401) return null; // the token dialog handles it
  return (
    <div className="banner error" role={quiet ? undefined : "alert"} data-testid="error-banner">
      <strong><TerminalText text={e.message} /></strong>
      {e.details.length > 0 && (
        <ul>
          {e.details.map((d, i) => (
            <li key={i}>
              {d.file ? <code><TerminalText text={`${d.file}:${d.line ?? 1}:${d.column ?? 1}`} /></code> : d.line ? `${d.line}:${d.column ?? 1}` : ""}{" "}
              {d.path && d.path !== d.file && <code><TerminalText text={d.path} /></code>} <TerminalText text={d.message} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const MAX_ID = "9223372036854775807"; // ids are 64-bit integers in every records database

/** Whether a URL's text can be an execution or inquiry id: 1 to 2^63 - 1, in digits. */
export function isId(raw: string): boolean {
  return /^[1-9]\d*$/.test(raw) && (raw.length < MAX_ID.length || (raw.length === MAX_ID.length && raw <= MAX_ID));
}

/** A page for /executions/abc and the like: an id that cannot be one, named as typed. */
export function NotAnId({ what, given, list }: { what: string; given: string; list: string }) {
  usePageTitle(`Not an ${what} id`);
  return (
    <div className="page">
      <div className="banner error" role="alert">
        <strong>Not an {what} id: &ldquo;{given}&rdquo;</strong> ({what} ids are whole numbers from 1 to {MAX_ID}).{" "}
        <Link to={list}>All {what === "inquiry" ? "inquiries" : `${what}s`}</Link>
      </div>
    </div>
  );
}

/** A list's pages. A button that leads nowhere is `disabled` (not clickable, read as dimmed);
 *  past the last page (a stale link) Previous and Last lead back to the last one. */
export function Pager({ p, onPage }: { p: Pagination; onPage: (page: number) => void }) {
  const last = Math.max(p.total_pages, 1);
  const first = p.page <= 1;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" onClick={() => onPage(1)} disabled={first} aria-label="First page">«</button>
      <button type="button" onClick={() => onPage(Math.min(p.page - 1, last))} disabled={first} aria-label="Previous page">‹ Prev</button>
      <span className="pager-info" data-testid="pager-info">
        Page {p.page} of {last} · {p.total_items.toLocaleString()} total
      </span>
      <button type="button" onClick={() => onPage(p.page + 1)} disabled={!p.has_next || p.page >= last} aria-label="Next page">Next ›</button>
      <button type="button" onClick={() => onPage(last)} disabled={p.page === last} aria-label="Last page">»</button>
    </nav>
  );
}

/** A value as JSON, its numbers as the API wrote them (json.ts) and control characters shown,
 *  not applied (TerminalText): the Parameters, Result, Variables, task input/output panes. */
export function JsonBlock({ value, label }: { value: unknown; label?: string }) {
  const text = value === undefined ? "—" : typeof value === "string" ? value : stringify(value, 2);
  return <pre className="code" aria-label={label}><TerminalText text={text} /></pre>;
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card">
      <header className="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      <div className="card-body">{children}</div>
    </section>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** A step that cannot be undone asks once more, and the second step can be backed out of: the
 * button beside it, or Escape. (Before, only clicking elsewhere backed out, which nobody saw.)
 * `busy` (its request is out): aria-disabled, not disabled, so that focus can come back to the
 * first step's button while it is (a disabled one cannot take it: focus fell to <body>). */
export function ConfirmButton({ label, confirm, keep, title, busy = false, onConfirm }: {
  label: string; confirm: string; keep: string; title?: string; busy?: boolean; onConfirm: () => void;
}) {
  const [armed, setArmed] = useState(false);
  // Backed out of: focus returns to the first step's button (the second step's buttons are gone).
  const [backedOut, setBackedOut] = useState(false);
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (backedOut && !armed) { first.current?.focus(); setBackedOut(false); }
  }, [backedOut, armed]);
  const back = () => { setArmed(false); setBackedOut(true); };
  if (!armed) {
    return <button ref={first} type="button" className="danger-outline" aria-disabled={busy} title={title}
      onClick={() => { if (!busy) setArmed(true); }}>{label}</button>;
  }
  return (
    <span className="confirm" role="group" aria-label={confirm}
      onKeyDown={(ev) => { if (ev.key === "Escape") back(); }}>
      <button type="button" className="danger" autoFocus aria-disabled={busy}
        onClick={() => { if (busy) return; back(); onConfirm(); }}>{confirm}</button>
      <button type="button" onClick={back}>{keep}</button>
    </span>
  );
}
