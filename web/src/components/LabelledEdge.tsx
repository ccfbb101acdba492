// A graph edge whose label never lies on another label out of the same task, and shows its whole
// text on hover when it is cut. React Flow's default puts every label at its edge's midpoint:
// two long conditions out of one task were drawn on top of each other.
import { BaseEdge, EdgeText, MarkerType, type Edge, type EdgeProps } from "@xyflow/react";
import { LABEL_PITCH, LABEL_TOP, labelSlots, type GraphEdge } from "../graph";

export type LabelledEdgeData = { slot: number; slots: number; full: string }; // a LabelSlot, and the whole label
export type LabelledEdgeType = Edge<LabelledEdgeData, "labelled">;

type Point = { x: number; y: number };

/** A cubic from the source's bottom to the target's top (a back edge loops out and in). */
function controls(s: Point, t: Point): [Point, Point] {
  const k = Math.max(40, Math.abs(t.y - s.y) / 2);
  return [{ x: s.x, y: s.y + k }, { x: t.x, y: t.y - k }];
}

function at(s: Point, c1: Point, c2: Point, t: Point, u: number): Point {
  const v = 1 - u;
  const [a, b, c, d] = [v * v * v, 3 * v * v * u, 3 * v * u * u, u * u * u];
  return { x: a * s.x + b * c1.x + c * c2.x + d * t.x, y: a * s.y + b * c1.y + c * c2.y + d * t.y };
}

/** The point of the edge at height `y` (a downward edge's height only grows along it), or its
 * midpoint when it never gets there (a back edge, nodes placed close by hand). */
function pointAtHeight(s: Point, c1: Point, c2: Point, t: Point, y: number): Point {
  if (!(t.y > y && y > s.y)) return at(s, c1, c2, t, 0.5);
  let [lo, hi] = [0, 1];
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (at(s, c1, c2, t, mid).y < y) lo = mid; else hi = mid;
  }
  return at(s, c1, c2, t, (lo + hi) / 2);
}

export function LabelledEdge({ sourceX, sourceY, targetX, targetY, label, data, markerEnd, style }: EdgeProps<LabelledEdgeType>) {
  const s = { x: sourceX, y: sourceY };
  const t = { x: targetX, y: targetY };
  const [c1, c2] = controls(s, t);
  const path = `M ${s.x},${s.y} C ${c1.x},${c1.y} ${c2.x},${c2.y} ${t.x},${t.y}`;
  const spot = pointAtHeight(s, c1, c2, t, sourceY + LABEL_TOP + (data?.slot ?? 0) * LABEL_PITCH);
  const full = data?.full ?? String(label ?? "");
  return (
    <>
      <BaseEdge path={path} markerEnd={markerEnd} style={style} />
      {label ? (
        <EdgeText x={spot.x} y={spot.y} label={label} labelBgPadding={[4, 2]} labelBgBorderRadius={4}
          data-full={full}>
          <title>{full}</title>
        </EdgeText>
      ) : null}
    </>
  );
}

export const edgeTypes = { labelled: LabelledEdge };

/** The graph's edges as React Flow draws them, each label in its slot under its source. */
export function flowEdges(edges: GraphEdge[]): LabelledEdgeType[] {
  const slots = labelSlots(edges);
  return edges.map((e) => ({
    id: e.id, source: e.source, target: e.target, type: "labelled", label: e.label, className: `edge-${e.kind}`,
    markerEnd: { type: MarkerType.ArrowClosed }, data: { ...(slots.get(e.id) ?? { slot: 0, slots: 1 }), full: e.full },
  }));
}
