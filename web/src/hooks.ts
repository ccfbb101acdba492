import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "./api";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/** Load with `fn`, again whenever `deps` change, and every `everyMs` while `live` holds. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[], opts: { everyMs?: number; live?: (d: T | undefined) => boolean } = {}): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const liveRef = useRef(opts.live);
  liveRef.current = opts.live;

  useEffect(() => {
    let cancelled = false;
    let timer: number | undefined;
    let value: T | undefined;
    const run = async () => {
      if (opts.everyMs && document.hidden && value !== undefined) {
        timer = window.setTimeout(run, opts.everyMs); // nobody is looking: skip this refresh
        return;
      }
      try {
        const fresh = await fnRef.current();
        if (cancelled) return;
        value = fresh;
        setData(fresh);
        setError(undefined);
        if (opts.everyMs && (liveRef.current?.(fresh) ?? true)) {
          timer = window.setTimeout(run, opts.everyMs);
        }
      } catch (err) {
        if (cancelled) return;
        setError(err instanceof ApiError ? err : new ApiError(0, "error", String(err)));
        if (opts.everyMs) timer = window.setTimeout(run, opts.everyMs * 2);
      } finally {
        if (!cancelled) setLoading(false);
      }
    };
    setLoading(true);
    run();
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** `value`, settled for `ms` milliseconds. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = window.setTimeout(() => setSettled(value), ms);
    return () => window.clearTimeout(t);
  }, [value, ms]);
  return settled;
}


/** The query string as it is now. react-router's setSearchParams(fn) hands `fn` the params its
 *  last render saw, not the URL: a filter picked right after the search was cleared brought the
 *  old search back. navigate() updates the URL at once, so build the next one from it. */
export function urlNow(): URLSearchParams {
  return new URLSearchParams(window.location.search);
}
