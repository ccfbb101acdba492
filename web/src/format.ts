// Small formatting helpers shared by the pages.

// One formatter each: toLocale*String(…, options) builds a new one per call, which showed in
// the render time of a 400-row task table.
const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const DATE = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "2-digit", day: "2-digit" });

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  const time = TIME.format(d);
  return d.toDateString() === new Date().toDateString() ? time : `${DATE.format(d)} ${time}`;
}

export function duration(start: string | null | undefined, end: string | null | undefined, now = Date.now()): string {
  if (!start) return "—";
  const ms = (end ? Date.parse(end) : now) - Date.parse(start);
  return ms >= 0 ? span(ms) : "—"; // NaN (a date that does not parse) too
}

/** How many of each unit make the next one up, with how a count of it reads. */
const UNITS: { size: number; below: number; show: (n: number) => string }[] = [
  { size: 1, below: 1000, show: (n) => `${n} ms` },
  { size: 10, below: 1000, show: (n) => `${(n / 100).toFixed(2)} s` }, // hundredths, under 10 s
  { size: 100, below: 600, show: (n) => `${(n / 10).toFixed(1)} s` }, // tenths, under a minute
  { size: 1000, below: 3600, show: (n) => `${Math.floor(n / 60)}m ${n % 60}s` },
  { size: 60_000, below: Infinity, show: (n) => `${Math.floor(n / 60)}h ${n % 60}m` },
];

/** A length of time, rounded once at the unit it is shown in, that unit picked after rounding:
 *  59.96 s reads "1m 0s" and 119.6 s "2m 0s" (rounding the seconds alone gave "60.0 s" and
 *  "1m 60s"), and from an hour up the minutes round too (7199.999 s is "2h 0m", not "1h 59m"). */
export function span(ms: number): string {
  for (const unit of UNITS) {
    const count = Math.round(ms / unit.size);
    if (count < unit.below) return unit.show(count);
  }
  return "—"; // not reached: the last unit has no bound
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** A size as people read it: 512 B, 256 KiB, 4.9 MiB (as the CLI says it; the caps are in KiB). */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** What a result kept of a stream it cut at the cap, of how much the action wrote (its
 *  `<stream>_bytes`; absent in results recorded before it was): null when it was not cut. */
export function cutNote(result: Record<string, unknown>, stream: "stdout" | "stderr"): string | null {
  if (!result[`${stream}_truncated`]) return null;
  const text = result[stream];
  const kept = bytes(typeof text === "string" ? new TextEncoder().encode(text).length : 0);
  const total = result[`${stream}_bytes`];
  const of = typeof total === "number" ? ` of ${bytes(total)}` : "";
  return stream === "stdout" ? `cut at ${kept}${of}; the rest was not kept`
    : `keeps the last ${kept}${of}; what came before was not kept`;
}
