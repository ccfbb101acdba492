// The workflow graph as nodes and edges: shared by the execution page and the builder.
import dagre from "@dagrejs/dagre";
import type { TaskDef, Transition } from "./types";

export type Kind = "succeeded" | "failed" | "timed_out" | "always" | "custom";
export const PRESETS: { kind: Exclude<Kind, "custom">; label: string; when: string | null }[] = [
  { kind: "succeeded", label: "succeeded", when: "{{ succeeded() }}" },
  { kind: "failed", label: "failed", when: "{{ failed() }}" },
  { kind: "timed_out", label: "timed out", when: "{{ timed_out() }}" },
  { kind: "always", label: "always", when: null },
];

export function conditionKind(when: string | null | undefined): Kind {
  if (when === null || when === undefined || String(when).trim() === "") return "always";
  const compact = String(when).replace(/\s+/g, "");
  for (const p of PRESETS) {
    if (p.when && compact === p.when.replace(/\s+/g, "")) return p.kind;
  }
  return "custom";
}

export function conditionLabel(when: string | null | undefined): string {
  const kind = conditionKind(when);
  if (kind !== "custom") return PRESETS.find((p) => p.kind === kind)!.label;
  const text = String(when).trim().replace(/^\{\{\s*/, "").replace(/\s*\}\}$/, "");
  return text.length > 40 ? `${text.slice(0, 38)}…` : text;
}

export function targets(t: Transition): string[] {
  if (t.do === null || t.do === undefined) return [];
  return Array.isArray(t.do) ? t.do.map(String) : [String(t.do)];
}

export interface GraphEdge {
  id: string; source: string; target: string; kind: Kind; label: string; transition: number;
}

export function edgesOf(tasks: TaskDef[]): GraphEdge[] {
  const names = new Set(tasks.map((t) => t.name));
  const edges: GraphEdge[] = [];
  for (const task of tasks) {
    (task.next ?? []).forEach((tr, i) => {
      for (const target of targets(tr)) {
        if (!names.has(target)) continue;
        edges.push({
          id: `${task.name}:${i}:${target}`, source: task.name, target, transition: i,
          kind: conditionKind(tr.when), label: conditionLabel(tr.when),
        });
      }
    });
  }
  return edges;
}

/** One edge per pair of tasks, labelled with every condition that leads from one to the other:
 * two transitions to the same next task (on success and on failure, say) were drawn on top of
 * each other, labels too, so one of them could not be read. For views; the builder edits each
 * transition on its own edge. */
export function mergeParallel(edges: GraphEdge[]): GraphEdge[] {
  const byPair = new Map<string, GraphEdge>();
  for (const e of edges) {
    const key = `${e.source}\u0000${e.target}`;
    const seen = byPair.get(key);
    if (!seen) {
      byPair.set(key, { ...e });
    } else if (!seen.label.split(" · ").includes(e.label)) {
      seen.label = `${seen.label} · ${e.label}`;
      if (seen.kind !== e.kind) seen.kind = "custom";
    }
  }
  return [...byPair.values()];
}

export const NODE_W = 210;
export const NODE_H = 64;

/** Top-to-bottom positions for every task; `fixed` positions (the editor's) are kept. */
export function layout(tasks: TaskDef[], fixed: Record<string, { x: number; y: number }> = {}): Record<string, { x: number; y: number }> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 40, ranksep: 70 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const t of tasks) g.setNode(t.name, { width: NODE_W, height: NODE_H });
  for (const e of edgesOf(tasks)) if (e.source !== e.target) g.setEdge(e.source, e.target);
  dagre.layout(g);
  const out: Record<string, { x: number; y: number }> = {};
  for (const t of tasks) {
    const n = g.node(t.name);
    out[t.name] = fixed[t.name] ?? { x: (n?.x ?? 0) - NODE_W / 2, y: (n?.y ?? 0) - NODE_H / 2 };
  }
  return out;
}
