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
  if (ms < 0) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
