import { useEffect, useState } from "react";
import { api } from "./api";
import type { Item, Limits, Meta } from "./types";

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

/** The API's limits on a workflow (undefined until /meta answers, or from an older API: the
 *  builder's live validation still reports them, only not as a field is typed). */
export function useLimits(): Limits | undefined {
  const [limits, setLimits] = useState<Limits>();
  useEffect(() => {
    let gone = false;
    meta().then((m) => { if (!gone) setLimits(m.limits); }).catch(() => undefined);
    return () => { gone = true; };
  }, []);
  return limits;
}
