// The path of a problem in the API's 422 details, e.g. `parameters.server.port`,
// `parameters.targets[1].weight`, `parameters["db.host"]`: names joined by ".", array indexes as
// [1], a name that is not a plain identifier quoted (JSON) in brackets. Read in this one place, so
// a parameter named `db.host` gets its own problems, not those of the `db` field's `host`.

export type Segment = string | number;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;
// A name after "." (or first); an index; a quoted name. Bare names are read leniently (anything
// up to the next "." or "["), so a path from an older server still finds its field.
const PART = /(?:^|\.)([^.[\]"]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;

/** The segments of `path`, or null when it is not one this format writes. */
export function parsePath(path: string): Segment[] | null {
  const out: Segment[] = [];
  PART.lastIndex = 0;
  while (PART.lastIndex < path.length) {
    const m = PART.exec(path);
    if (!m) return null;
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else {
      try {
        out.push(JSON.parse(m[3]) as string);
      } catch {
        return null;
      }
    }
  }
  return out.length > 0 ? out : null;
}

/** Segments written back in the same format, as the rest of a path after a field's name:
 *  `port`, `[1].weight`, `["a.b"]`. */
export function formatPath(segments: Segment[]): string {
  return segments.map((s, i) => typeof s === "number" ? `[${s}]`
    : IDENTIFIER.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`).join("");
}
