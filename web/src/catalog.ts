import { all } from "./api";
import type { Action, Pack } from "./types";

// Plain numbers (api.ts): the workflow builder edits with these.
export const loadActions = () => all<Action>("/actions", {}, false);
export const loadPacks = () => all<Pack>("/packs", {}, false);

/** Does the action match every word of the search (ref, label, tag, pack, description)? */
export function matches(a: Action, search: string): boolean {
  const hay = [a.ref, a.label ?? "", a.pack_ref, a.description ?? "", ...a.tags].join(" ").toLowerCase();
  return search.toLowerCase().split(/\s+/).filter(Boolean).every((w) => hay.includes(w));
}
