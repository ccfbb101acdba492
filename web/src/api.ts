// The only way the UI talks to the server: the public REST API under /api/v1.
import { parse, stringify } from "./json";
import type { Problem } from "./types";

const BASE = "/api/v1";
const TOKEN_KEY = "attune.token";

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public details: Problem[] = []) {
    super(message);
  }
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Listeners told when the API answers 401: the app then asks for a token. */
const unauthorized = new Set<() => void>();
export function onUnauthorized(fn: () => void): () => void {
  unauthorized.add(fn);
  return () => unauthorized.delete(fn);
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== null && v !== undefined && v !== "" && v !== false) params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** `exact` (the default): numbers as the API wrote them (json.ts), so what a run was given or
 *  returned shows as the CLI shows it; `exact: false` for what only the workflow builder edits,
 *  which works with plain numbers. */
export async function api<T>(path: string, init: RequestInit & { query?: Query; exact?: boolean } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (init.body && typeof init.body === "string" && !headers.has("Content-Type")) {
    headers.set("Content-Type", "application/json");
  }
  let response: Response;
  try {
    response = await fetch(BASE + withQuery(path, init.query), { ...init, headers });
  } catch (err) {
    throw new ApiError(0, "network", `cannot reach the API: ${(err as Error).message}`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text().catch(() => "");
  let body: any = null; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    body = init.exact === false ? JSON.parse(text) : parse(text);
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = body?.error;
    if (response.status === 401) unauthorized.forEach((fn) => fn());
    throw new ApiError(response.status, error?.code ?? "error",
      error?.message ?? `${response.status} ${response.statusText}`, error?.details ?? []);
  }
  return body as T;
}

export const post = <T>(path: string, body: unknown) =>
  api<T>(path, { method: "POST", body: stringify(body) });
export const put = <T>(path: string, body: unknown) =>
  api<T>(path, { method: "PUT", body: stringify(body) });

/** Every page of a list route (catalogs are small; executions are never fetched this way). */
export async function all<T>(path: string, query: Query = {}, exact = true): Promise<T[]> {
  const items: T[] = [];
  for (let page = 1; ; page++) {
    const res = await api<{ items: T[]; pagination: { has_next: boolean } }>(path, {
      query: { ...query, page, per_page: 1000 }, exact,
    });
    items.push(...res.items);
    if (!res.pagination.has_next) return items;
  }
}
