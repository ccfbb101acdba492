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

/** A condition as an edge says it: a preset's name, or the expression without its braces. */
export function conditionText(when: string | null | undefined): string {
  const kind = conditionKind(when);
  if (kind !== "custom") return PRESETS.find((p) => p.kind === kind)!.label;
  return String(when).trim().replace(/^\{\{\s*/, "").replace(/\s*\}\}$/, "");
}

export const LABEL_MAX = 40;

/** A label short enough to sit on an edge; the edge shows the whole text on hover. */
export function shortLabel(text: string): string {
  return text.length > LABEL_MAX ? `${text.slice(0, LABEL_MAX - 2)}…` : text;
}

export function conditionLabel(when: string | null | undefined): string {
  return shortLabel(conditionText(when));
}

export function targets(t: Transition): string[] {
  if (t.do === null || t.do === undefined) return [];
  return Array.isArray(t.do) ? t.do.map(String) : [String(t.do)];
}

export interface GraphEdge {
  id: string; source: string; target: string; kind: Kind; label: string; transition: number;
  full: string; // the label's whole text (`label` may be cut)
}

export function edgesOf(tasks: TaskDef[], names: Set<string> = new Set(tasks.map((t) => t.name))): GraphEdge[] {
  const edges: GraphEdge[] = [];
  for (const task of tasks) {
    (task.next ?? []).forEach((tr, i) => {
      for (const target of targets(tr)) {
        if (!names.has(target)) continue;
        edges.push({
          id: `${task.name}:${i}:${target}`, source: task.name, target, transition: i,
          kind: conditionKind(tr.when), label: conditionLabel(tr.when), full: conditionText(tr.when),
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
    } else if (!seen.full.split(" · ").includes(e.full)) {
      seen.full = `${seen.full} · ${e.full}`;
      seen.label = shortLabel(seen.full);
      if (seen.kind !== e.kind) seen.kind = "custom";
    }
  }
  return [...byPair.values()];
}

export const NODE_W = 210;
export const NODE_H = 64;

/** Where an edge's label sits: the labels of the edges out of one task are stacked under it,
 * one LABEL_PITCH apart, so they never lie on top of each other (at each edge's midpoint, two
 * long labels out of one task overlapped). */
export interface LabelSlot { slot: number; slots: number }
export const LABEL_PITCH = 22; // px: an 11 px label with its padding, and a gap
export const LABEL_TOP = 16; // px below the source node to the first label's middle

export function labelSlots(edges: GraphEdge[]): Map<string, LabelSlot> {
  const bySource = new Map<string, GraphEdge[]>();
  for (const e of edges) {
    if (!e.label || e.source === e.target) continue;
    bySource.set(e.source, [...(bySource.get(e.source) ?? []), e]);
  }
  const out = new Map<string, LabelSlot>();
  for (const group of bySource.values()) group.forEach((e, slot) => out.set(e.id, { slot, slots: group.length }));
  return out;
}

/** What `layout` depends on: the tasks in order, the edges between two of them, how many labels
 *  stack under one task (the gap between ranks) and the fixed positions. A view that re-lays out
 *  only when this changes keeps its boxes still through refreshes that change anything else. */
export function layoutKey(tasks: TaskDef[], edges: GraphEdge[], fixed: Record<string, { x: number; y: number }> = {}): string {
  const stacked = Math.max(0, ...[...labelSlots(edges).values()].map((s) => s.slots));
  const links = edges.filter((e) => e.source !== e.target).map((e) => [e.source, e.target]);
  return JSON.stringify([tasks.map((t) => t.name), links, stacked, tasks.map((t) => fixed[t.name] ?? null)]);
}

/** Top-to-bottom positions for every task; `fixed` positions (the editor's) are kept. The gap
 * between ranks leaves room for the most labels stacked under one task. */
export function layout(tasks: TaskDef[], fixed: Record<string, { x: number; y: number }> = {},
  edges: GraphEdge[] = edgesOf(tasks)): Record<string, { x: number; y: number }> {
  const stacked = Math.max(0, ...[...labelSlots(edges).values()].map((s) => s.slots));
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 40, ranksep: Math.max(70, 2 * LABEL_TOP + stacked * LABEL_PITCH) });
  g.setDefaultEdgeLabel(() => ({}));
  for (const t of tasks) g.setNode(t.name, { width: NODE_W, height: NODE_H });
  for (const e of edges) if (e.source !== e.target) g.setEdge(e.source, e.target);
  dagre.layout(g);
  const out: Record<string, { x: number; y: number }> = {};
  for (const t of tasks) {
    const n = g.node(t.name);
    out[t.name] = fixed[t.name] ?? { x: (n?.x ?? 0) - NODE_W / 2, y: (n?.y ?? 0) - NODE_H / 2 };
  }
  return out;
}

/** A run's own graph as the engine recorded it (`task_graph` of GET /executions/{id}/workflow):
 * each task's action, the tasks it leads to and its join. */
export type RunGraph = Record<string, {
  action?: string; next?: string[]; join?: number | "all" | null;
  transitions?: { when: string | null; do: string[] }[]; // recorded since the runs of 2026-12-07
}>;

/** The graph a run ran: its tasks and edges from its own `task_graph`, so an old run is drawn as
 * it ran after its workflow file changed (the workflow as it is now drew tasks added since as
 * not run, and left out those removed). The record has no conditions: an edge's label and a
 * task's badges come from `current` (the workflow now) where the same task, with the same
 * action, still leads to the same task; otherwise the edge is drawn unlabelled. `edited` says
 * whether the workflow differs now. */
export function runGraph(graph: RunGraph, current: TaskDef[] = []): { tasks: TaskDef[]; edges: GraphEdge[]; edited: boolean } {
  const now = new Map(current.map((t) => [t.name, t]));
  const nowEdges = edgesOf(current);
  const tasks: TaskDef[] = [];
  const edges: GraphEdge[] = [];
  for (const [name, node] of Object.entries(graph)) {
    const action = node.action ?? "";
    const same = now.get(name)?.action === action ? now.get(name) : undefined;
    if (node.transitions) { // the run's own conditions: labelled as it ran, whatever the file says now
      const task = { ...(same ?? {}), name, action, join: node.join ?? null, next: node.transitions };
      tasks.push(task);
      edges.push(...edgesOf([task], new Set(Object.keys(graph))));
      continue;
    }
    tasks.push({ ...(same ?? {}), name, action, join: node.join ?? null, next: [{ do: node.next ?? [] }] });
    for (const target of node.next ?? []) {
      if (!(target in graph)) continue;
      const known = same ? nowEdges.filter((e) => e.source === name && e.target === target) : [];
      edges.push(...(known.length ? known : [{ id: `${name}:run:${target}`, source: name, target, transition: 0,
        kind: "custom" as Kind, label: "", full: "" }]));
    }
  }
  return { tasks, edges, edited: !sameGraph(graph, current) };
}

function sameGraph(graph: RunGraph, current: TaskDef[]): boolean {
  if (current.length !== Object.keys(graph).length) return false;
  return current.every((t) => {
    const node = graph[t.name];
    const next = [...new Set((t.next ?? []).flatMap(targets))].sort();
    return !!node && node.action === t.action && JSON.stringify([...(node.next ?? [])].sort()) === JSON.stringify(next)
      && (node.join ?? null) === (t.join ?? null);
  });
}
