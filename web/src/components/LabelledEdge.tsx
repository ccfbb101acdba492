// A graph edge whose label never lies on another label out of the same task, and shows its whole
// text on hover and keyboard focus when it is cut. React Flow's default puts every label at its
// edge's midpoint: two long conditions out of one task were drawn on top of each other.
import { useLayoutEffect, useRef, useState } from "react";
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
  const cut = !!label && full !== label;
  return (
    <>
      <BaseEdge path={path} markerEnd={markerEnd} style={style} />
      {label ? (
        <EdgeText x={spot.x} y={spot.y} label={label} labelBgPadding={[4, 2]} labelBgBorderRadius={4}
          className={cut ? "edge-label-short" : undefined} data-full={full}>
          <title>{full}</title>
        </EdgeText>
      ) : null}
      {cut ? <FullLabel x={spot.x} y={spot.y} text={full} /> : null}
    </>
  );
}

const LINE_CHARS = 56; // a whole condition in lines of about this many characters
const LINE_PX = 14;

/** The whole text of a cut label, over the cut one; graph.css shows it while the edge has focus or
 * the pointer (hidden, not absent: its box is measured once, as React Flow measures its labels). */
function FullLabel({ x, y, text }: { x: number; y: number; text: string }) {
  const ref = useRef<SVGTextElement>(null);
  const [box, setBox] = useState({ width: 0, height: 0 });
  useLayoutEffect(() => {
    const b = ref.current?.getBBox();
    if (b) setBox({ width: b.width, height: b.height });
  }, [text]);
  const lines = wrap(text, LINE_CHARS);
  const top = -((lines.length - 1) * LINE_PX) / 2;
  return (
    <g className="edge-label-full" transform={`translate(${x} ${y})`} aria-hidden="true" data-testid="edge-full-label">
      <rect className="edge-full-bg" x={-box.width / 2 - 4} y={top - LINE_PX / 2 - 3}
        width={box.width + 8} height={box.height + 6} rx={4} />
      <text ref={ref} className="edge-full-text" textAnchor="middle" dominantBaseline="central">
        {lines.map((l, i) => <tspan key={i} x={0} y={top + i * LINE_PX}>{l}</tspan>)}
      </text>
    </g>
  );
}

/** `text` in lines of at most about `width` characters, broken at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; }
    else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

export const edgeTypes = { labelled: LabelledEdge };

/** The graph's edges as React Flow draws them, each label in its slot under its source. */
export function flowEdges(edges: GraphEdge[]): LabelledEdgeType[] {
  const slots = labelSlots(edges);
  return edges.map((e) => ({
    id: e.id, source: e.source, target: e.target, type: "labelled", label: e.label, className: `edge-${e.kind}`,
    // Read on focus: where it goes and on what condition (React Flow's default names the tasks only).
    ariaLabel: `From ${e.source} to ${e.target}${e.full ? `: ${e.full}` : ""}`,
    markerEnd: { type: MarkerType.ArrowClosed }, data: { ...(slots.get(e.id) ?? { slot: 0, slots: 1 }), full: e.full },
  }));
}
