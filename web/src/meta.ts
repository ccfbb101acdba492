import { api } from "./api";
import type { Item, Meta } from "./types";

let cached: Promise<Meta> | null = null;

/** Deployment facts (Temporal Web UI address), fetched once per page load. */
export function meta(): Promise<Meta> {
  cached ??= api<Item<Meta>>("/meta").then((r) => r.data).catch((err) => {
    cached = null;
    throw err;
  });
  return cached;
}

export function temporalLink(m: Meta, workflowId: string): string {
  return `${m.temporal_ui_url}/namespaces/${encodeURIComponent(m.temporal_namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
