// Run control on the execution page (spec §9): pause, resume, re-run (as it was, from its failed
// tasks, or with edited parameters) and cancel, each shown when it applies. The API decides:
// a refusal (409, e.g. it ended meanwhile) is shown as the API words it.
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { ApiError, post } from "../api";
import { TERMINAL, type Execution, type Item } from "../types";
import { ConfirmButton, keepFocus, pageHeading } from "./common";

interface Props {
  execution: Execution;
  isWorkflow: boolean;
  registered: boolean; // its action still exists: a deleted one cannot run again
  onDone: () => void; // reload: the state changed
  onError: (error: ApiError | undefined) => void;
}

export function RunControls({ execution: e, isWorkflow, registered, onDone, onError }: Props) {
  const navigate = useNavigate();
  const [busy, setBusy] = useState<string | null>(null);
  const call = async (verb: string, body: unknown, opened = false) => {
    setBusy(verb);
    onError(undefined);
    try {
      const res = await post<Item<Execution>>(`/executions/${e.id}/${verb}`, body);
      if (opened) navigate(`/executions/${res.data.id}`);
      else {
        onDone();
        keepFocus(pageHeading); // the button may go (resumed, then it ended)
      }
    } catch (err) {
      onError(err instanceof ApiError ? err : new ApiError(0, "error", String(err)));
      onDone(); // whatever refused it (it ended, someone paused it) is worth showing
    } finally {
      setBusy(null);
    }
  };
  const ended = TERMINAL.has(e.status);
  const topLevel = e.parent === null; // a task is re-run by re-running its workflow
  const failedWorkflow = isWorkflow && topLevel && e.status === "failed";
  const pausable = isWorkflow && (e.status === "running" || e.status === "scheduled");
  const resumable = isWorkflow && (e.status === "pausing" || e.status === "paused");
  // Busy: aria-disabled, not disabled, so that focus stays on the button (a disabled one drops
  // it to <body>). Pause and Resume are one button that changes: focus stays through the change.
  const idle = busy === null;
  return (
    <>
      {(pausable || resumable) && (
        <button className={resumable ? "primary" : undefined} aria-disabled={!idle}
          onClick={() => { if (idle) void call(resumable ? "resume" : "pause", {}); }}
          title={resumable ? undefined : "Running tasks end, nothing new starts until it is resumed"}>
          {resumable ? "Resume" : "Pause"}</button>
      )}
      {ended && topLevel && registered && (
        <>
          <button aria-disabled={!idle} onClick={() => { if (idle) void call("rerun", {}, true); }}
            title="A new execution with the same parameters">Re-run</button>
          {failedWorkflow && (
            <button aria-disabled={!idle} onClick={() => { if (idle) void call("rerun", { from_failed: true }, true); }}
              title="Only the failed tasks and what follows them run again; the others keep their results">
              Re-run from failed</button>
          )}
          {/* A fresh run with the edits by default: from the failed tasks, the kept tasks would
              keep results made with the old values. The form offers it as a choice. */}
          <Link className="button" to={`/actions/${e.action_ref}?rerun=${e.id}`}>Edit &amp; re-run…</Link>
        </>
      )}
      <CancelButton execution={e} isWorkflow={isWorkflow} onDone={onDone} onError={onError} />
    </>
  );
}

function CancelButton({ execution, isWorkflow, onDone, onError }: {
  execution: Execution; isWorkflow: boolean; onDone: () => void; onError: (e: ApiError | undefined) => void;
}) {
  if (TERMINAL.has(execution.status) || (execution.parent !== null && !isWorkflow)) return null;
  if (execution.status === "canceling") return <button disabled>Canceling…</button>;
  const cancel = async () => {
    onError(undefined);
    try {
      await post(`/executions/${execution.id}/cancel`, {});
      keepFocus(pageHeading); // the button goes: "Canceling…", then nothing
    } catch (err) {
      onError(err as ApiError);
    } finally {
      onDone();
    }
  };
  return <ConfirmButton label="Cancel execution" confirm="Confirm cancel" keep="Keep it running"
    onConfirm={cancel} />;
}
