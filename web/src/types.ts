// Shapes of the REST API's bodies (see /docs); only the fields the UI reads.

export type Status =
  | "requested" | "scheduling" | "scheduled" | "running" | "pausing" | "paused" | "completed"
  | "failed" | "canceling" | "cancelled" | "timeout" | "abandoned";

export const STATUSES: Status[] = [
  "requested", "scheduling", "scheduled", "running", "pausing", "paused", "completed", "failed",
  "canceling", "cancelled", "timeout", "abandoned",
];
export const TERMINAL: ReadonlySet<string> = new Set(["completed", "failed", "cancelled", "timeout", "abandoned"]);

export interface Pagination {
  page: number; page_size: number; total_items: number; total_pages: number;
  has_previous: boolean; has_next: boolean;
  next_after?: number | null; // executions only: `after` of the next page (keyset)
}
export interface Page<T> { items: T[]; pagination: Pagination }
export interface Item<T> { data: T }

export interface WorkflowTaskRef {
  workflow_execution: number; task_name: string; triggered_by: string | null;
  task_index: number | null; retry_count: number;
  iteration?: number | null; // which run of the task (a loop runs it again); older API: absent
  // A slice of a with_items of over 500 items (a nested run of its items [start, end)); older API: absent
  items_span?: [number, number] | null;
}

export interface Execution {
  id: number; action_ref: string; status: Status; parent: number | null;
  config: Record<string, unknown>; result: unknown; workflow_task: WorkflowTaskRef | null;
  retry_count: number; original_execution: number | null; timeout_seconds: number | null;
  workflow_id: string | null; started_at: string | null; ended_at: string | null;
  created: string; updated: string;
  status_detail: string | null; // why it is not moving, e.g. "waiting for inquiry 7"
  rerun_of: number | null; // the execution this one re-runs
  waits_for_inquiry: number | null; // -1: its wait_for did not name an inquiry id
  omitted?: string[]; // in lists: fields left out because they are large (GET the execution)
}

/** A current task that no process runs yet: it waits out its `delay` or a retry's delay. */
export interface WaitingTask {
  task: string; reason: "delay" | "retry"; until: string; // UTC: when it is dispatched
  retry_count: number; task_index: number | null; // a retry: the attempt (0 = first) and item
}

export interface WorkflowExecution {
  id: number; execution: number; workflow_id: string | null; action_ref: string; status: Status;
  current_tasks: string[]; completed_tasks: string[]; failed_tasks: string[];
  waiting?: WaitingTask[]; // those of the current tasks that wait for a timer (an older API: none)
  variables: Record<string, unknown>; task_graph: Record<string, unknown>;
  error_message: string | null; tasks: Execution[];
  kept_tasks: Execution[]; // a re-run from failed tasks: the original's records of the tasks it kept
}

export type ParamType = "string" | "integer" | "number" | "boolean" | "array" | "object";
export interface ParameterSpec {
  type: ParamType; description?: string | null; required?: boolean; secret?: boolean;
  default?: unknown; enum?: unknown[] | null; minimum?: number | null; maximum?: number | null;
  items?: Record<string, unknown> | null;
}

export interface Action {
  id: number; ref: string; pack_ref: string; label: string | null; description: string | null;
  enabled: boolean; parameters: Record<string, ParameterSpec>; output: unknown;
  workflow_file: string | null; runner: string | null; entry_point: string | null;
  timeout_seconds: number; tags: string[]; is_workflow: boolean;
}

export interface Pack {
  id: number; ref: string; label: string | null; description: string | null; version: string;
  path: string | null; tags: string[]; actions: string[];
}

export interface Transition { when?: string | null; publish?: unknown; do?: string[] | string | null }
export interface TaskDef {
  name: string; action: string; input?: Record<string, unknown>; next?: Transition[];
  join?: number | "all" | null; with_items?: string | null; batch_size?: number | null;
  concurrency?: number; retry?: Record<string, unknown> | null; timeout?: number | string | null;
  delay?: number | string | null;
}
export interface WorkflowDefinition {
  version: string; description?: string | null; vars?: Record<string, unknown>; tasks: TaskDef[];
  output_map?: Record<string, unknown>;
}
export interface Workflow {
  id: number; ref: string; pack_ref: string; label: string | null; description: string | null;
  enabled: boolean; parameters: Record<string, ParameterSpec>; output: unknown;
  workflow_file: string | null; definition: WorkflowDefinition;
}
export interface WorkflowFiles {
  workflow_path: string; workflow_yaml: string; action_path: string | null; action_yaml: string | null;
}
export interface Problem { path?: string | null; message: string; line?: number | null; column?: number | null; file?: string | null }
export interface ValidateResult { valid: boolean; errors: Problem[] }
/** What the API refuses in a workflow (GET /meta): the builder says so as a field is typed. */
export interface Limits {
  max_task_name_length: number; reserved_task_names: string[]; max_duration_seconds: number;
  max_action_ref_length: number;
}
export interface Meta { version: string; temporal_ui_url: string; temporal_namespace: string; limits?: Limits }

export type InquiryStatus = "pending" | "responded" | "timeout" | "cancelled";
export const INQUIRY_STATUSES: InquiryStatus[] = ["pending", "responded", "timeout", "cancelled"];
export interface Inquiry {
  id: number; execution: number | null; prompt: string; response_schema: Record<string, ParameterSpec>;
  assigned_to: string | null; status: InquiryStatus; response: Record<string, unknown> | null;
  timeout_at: string | null; responded_at: string | null; created: string; updated: string;
}
/** How the API shows a secret's value; sent back in a re-run, it keeps the original value. */
export const REDACTED = "********";
