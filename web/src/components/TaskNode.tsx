import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import { Link } from "react-router-dom";

export type TaskNodeData = {
  name: string;
  action: string;
  status?: string;
  badges?: string[];
  problems?: number;
  detail?: string | null; // why a running task is not moving (e.g. waiting for an inquiry)
  inquiry?: number | null; // the inquiry it waits for
  kept?: boolean; // a re-run kept this task's result from the run it re-runs
};
export type TaskNodeType = Node<TaskNodeData, "task">;

export function TaskNode({ data, selected }: NodeProps<TaskNodeType>) {
  const status = data.status ?? "pending";
  return (
    <div className={`task-node status-${status}${selected ? " selected" : ""}${data.problems ? " has-problems" : ""}${data.inquiry ? " waiting" : ""}${data.kept ? " kept" : ""}`}
      data-task={data.name} data-status={status} title={`${data.name}: ${status}${data.detail ? ` (${data.detail})` : ""}`}>
      <Handle type="target" position={Position.Top} />
      <div className="task-node-name">{data.name}</div>
      <div className="task-node-action">{data.action}</div>
      <div className="task-node-badges">
        {data.status && <span className="task-node-status">{status.replace("_", " ")}</span>}
        {data.kept && <span className="chip kept" title="Kept from the run this one re-runs">kept</span>}
        {(data.badges ?? []).map((b) => <span key={b} className="chip">{b}</span>)}
        {data.problems ? <span className="chip problem" data-testid="node-problems">{data.problems} problem{data.problems > 1 ? "s" : ""}</span> : null}
      </div>
      {data.inquiry ? (
        <Link className="task-node-detail nodrag" data-testid="node-inquiry" to={`/inquiries/${data.inquiry}`}
          onClick={(e) => e.stopPropagation() /* a link, not a click that selects the node */}>
          waiting for inquiry #{data.inquiry}
        </Link>
      ) : data.detail ? <div className="task-node-detail">{data.detail}</div> : null}
      <Handle type="source" position={Position.Bottom} />
    </div>
  );
}

export const nodeTypes = { task: TaskNode };

export function badgesOf(t: { with_items?: unknown; retry?: unknown; join?: unknown; timeout?: unknown; delay?: unknown }): string[] {
  const b: string[] = [];
  if (t.with_items) b.push("with_items");
  if (t.join != null) b.push(`join ${t.join}`);
  if (t.retry) b.push("retry");
  if (t.timeout != null) b.push("timeout");
  if (t.delay != null) b.push("delay");
  return b;
}
