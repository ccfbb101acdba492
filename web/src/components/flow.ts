import { useEffect, useMemo, useState } from "react";
import { applyNodeChanges, type Node, type NodeChange } from "@xyflow/react";
import { layout, layoutKey, type GraphEdge } from "../graph";
import type { TaskDef } from "../types";

type Positions = Record<string, { x: number; y: number }>;

/** `layout`, run again only when the graph's shape changes (`layoutKey`): not when a refresh or
 *  an edit brings new objects for the same tasks and edges. */
export function useLayout(tasks: TaskDef[], edges: GraphEdge[], fixed: Positions = {}): Positions {
  const key = layoutKey(tasks, edges, fixed);
  return useMemo(() => layout(tasks, fixed, edges), [key]); // eslint-disable-line react-hooks/exhaustive-deps
}

/** React Flow nodes kept in state, rebuilt from `computed` whenever it changes while keeping what
 *  the library measured (sizes, an in-progress drag), so live updates neither flicker nor hide. */
export function useFlowNodes<N extends Node>(computed: N[]): [N[], (changes: NodeChange<N>[]) => void] {
  const key = useMemo(() => JSON.stringify(computed.map(({ id, position, data, selected }) => [id, position, data, selected])), [computed]);
  const [nodes, setNodes] = useState<N[]>(computed);
  useEffect(() => {
    setNodes((prev) => {
      const byId = new Map(prev.map((n) => [n.id, n]));
      return computed.map((n) => {
        const old = byId.get(n.id);
        if (!old) return n;
        return { ...n, measured: old.measured, position: old.dragging ? old.position : n.position, dragging: old.dragging };
      });
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const onChange = (changes: NodeChange<N>[]) => setNodes((ns) => applyNodeChanges(changes, ns));
  return [nodes, onChange];
}
