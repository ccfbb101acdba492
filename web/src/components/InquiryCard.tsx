// One inquiry (a question a workflow asks a person, spec §9): its prompt and state, and while it
// is pending a response form generated from its response_schema, like an action's form.
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { api, ApiError, post } from "../api";
import { duration, when } from "../format";
import { useLoad } from "../hooks";
import type { Execution, Inquiry, InquiryStatus, Item } from "../types";
import { announce, ConfirmButton, ErrorBanner, JsonBlock, keepFocus, pageHeading } from "./common";
import { TerminalText } from "./TerminalText";
import {
  focusFirstInvalid, hasFieldProblem, initialValues, ParamForm, problemsByField, toParameters, type FormValues,
} from "./ParamForm";

/** What became of an answer or a withdrawal, for a page that may no longer list the inquiry. */
export interface Notice { inquiry: number; ok: boolean; text: string }

/** The id of an inquiry's notice on a page that lists it no more: focus goes there once it is answered. */
export const noticeId = (inquiry: number) => `inquiry-${inquiry}-notice`;
const titleId = (inquiry: number) => `inquiry-${inquiry}-title`;

export function InquiryBadge({ status }: { status: InquiryStatus }) {
  return <span className={`badge inquiry-${status}`} data-status={status}>{status}</span>;
}

/** `level`: its title's heading level, under the page's h1 (2) or under a section's h2 (3).
 *  `refused`: a refusal this card said before the page moved it (a new card): shown, not said again. */
export function InquiryCard({ inquiry: q, onChanged, level = 2, refused }: {
  inquiry: Inquiry; onChanged: (n: Notice) => void; level?: 2 | 3; refused?: string;
}) {
  const schema = q.response_schema ?? {};
  const [values, setValues] = useState<FormValues>(() => initialValues(schema));
  const [fieldErrors, setFieldErrors] = useState<Record<string, string[]>>({});
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const [refusedFields, setRefusedFields] = useState(0); // bumped by a refused answer: focus what to fix
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => { if (refusedFields) focusFirstInvalid(form.current); }, [refusedFields]);
  const Title = level === 2 ? "h2" : "h3";
  // Answered, withdrawn or refused as no longer pending, the form goes and the card may leave the
  // list or move: focus its title, or the notice standing for it, rather than dropping to <body>.
  const keepCardFocus = () =>
    keepFocus(() => document.getElementById(titleId(q.id)) ?? document.getElementById(noticeId(q.id)) ?? pageHeading());

  const act = async (path: string, body: unknown, done: string) => {
    setBusy(true);
    setError(undefined);
    setFieldErrors({});
    try {
      const res = await post<Item<Inquiry>>(`/inquiries/${q.id}/${path}`, body);
      const text = `${done} inquiry #${q.id}: it is now ${res.data.status}.`;
      announce(text);
      onChanged({ inquiry: q.id, ok: true, text });
      keepCardFocus();
    } catch (err) {
      const e = err as ApiError;
      const { byField, rest } = problemsByField(e.details ?? [], "response", schema);
      setFieldErrors(byField);
      const shown = new ApiError(e.status, e.code, e.status === 409 ? `Refused: ${e.message}` : e.message, rest);
      setError(shown);
      if (e.status === 409) {
        onChanged({ inquiry: q.id, ok: false, text: shown.message });
        keepCardFocus(); // refused as no longer pending: its form goes too
      } else if (Object.keys(byField).length > 0) setRefusedFields((n) => n + 1);
    } finally {
      setBusy(false);
    }
  };
  const respond = (e: React.FormEvent) => {
    e.preventDefault();
    if (busy) return;
    void act("respond", { response: toParameters(schema, values) }, "Answered");
  };

  return (
    <article className={`card inquiry inquiry-${q.status}`} data-testid="inquiry-card" data-inquiry={q.id}
      aria-labelledby={titleId(q.id)}>
      <header className="card-head">
        <Title id={titleId(q.id)} className="card-title"><Link to={`/inquiries/${q.id}`}>Inquiry #{q.id}</Link> <InquiryBadge status={q.status} /></Title>
        <span className="muted">
          {q.execution && <AskedBy execution={q.execution} />}
          {q.assigned_to && <> · for <strong><TerminalText text={q.assigned_to} /></strong></>}
          {" "}· {when(q.created)}
        </span>
      </header>
      <div className="card-body">
        <p className="prompt"><TerminalText text={q.prompt} /></p>
        {q.status === "pending" ? (
          <form onSubmit={respond} noValidate data-testid="response-form" ref={form}>
            {q.timeout_at && <p className="muted">Times out at {when(q.timeout_at)} (in {duration(new Date().toISOString(), q.timeout_at)}).</p>}
            <ParamForm params={schema} values={values} onChange={setValues} errors={fieldErrors}
              idPrefix={`inquiry-${q.id}`} empty="Nothing to fill in: answering is enough." />
            <div className="row">
              {/* busy: aria-disabled, so that focus stays on it while the answer goes out */}
              <button type="submit" className="primary" disabled={hasFieldProblem(schema, values)} aria-disabled={busy}>
                {busy ? "Sending…" : "Respond"}
              </button>
              <ConfirmButton label="Withdraw" confirm="Confirm withdraw" keep="Keep it open" busy={busy}
                title="No answer will come: the waiting task fails"
                onConfirm={() => act("cancel", {}, "Withdrew")} />
            </div>
          </form>
        ) : <InquiryOutcome inquiry={q} />}
        {/* The one message of a refusal, in one place whether the form stays (a 422) or goes
            (a 409: answered meanwhile), so it is announced once: it was a banner in the form,
            then a new one beside the answer. Focus goes to the first wrong field, which names
            its problem: then the banner is not announced as well. */}
        <ErrorBanner error={error ?? refused} quiet={!error || Object.keys(fieldErrors).length > 0} />
      </div>
    </article>
  );
}

/** Which task of which run asks: the context a person needs before answering. */
function AskedBy({ execution }: { execution: number }) {
  const asker = useLoad(() => api<Item<Execution>>(`/executions/${execution}`).then((r) => r.data), [execution]);
  const task = asker.data?.workflow_task;
  if (task && asker.data?.parent) {
    return <>asked by task <strong>{task.task_name}</strong> of{" "}
      <Link to={`/executions/${asker.data.parent}?task=${execution}`}>#{asker.data.parent}</Link></>;
  }
  return <>asked by <Link to={`/executions/${execution}`}>#{execution}</Link></>;
}

function InquiryOutcome({ inquiry: q }: { inquiry: Inquiry }) {
  if (q.status === "responded") {
    return <><p className="muted">Answered at {when(q.responded_at)}:</p><JsonBlock value={q.response} label="response" /></>;
  }
  if (q.status === "timeout") return <p className="muted">Nobody answered before {when(q.timeout_at)}: the waiting task timed out.</p>;
  return <p className="muted">Withdrawn, or its run was cancelled: no answer will come.</p>;
}
