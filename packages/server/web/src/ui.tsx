import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

/** How often live views ask the server again. */
export const POLL_MS = 2_000;

/**
 * Runs `load` now and every `intervalMs` (while the tab is visible), keeping the last good value and
 * the last error. `deps` restart it, like useEffect's.
 */
export function usePoll<T>(load: () => Promise<T>, deps: unknown[], intervalMs: number = POLL_MS) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  const generation = useRef(0);

  const refresh = useCallback(async () => {
    const mine = generation.current;
    try {
      const value = await loadRef.current();
      if (mine !== generation.current) return;
      setData(value);
      setError(null);
      setUpdatedAt(Date.now());
    } catch (caught) {
      if (mine !== generation.current) return;
      setError(caught instanceof ApiError ? caught : new ApiError(0, 'unexpected', String(caught)));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    generation.current += 1;
    setData(null);
    setError(null);
    setUpdatedAt(null);
    setLoading(true);
    refresh();
    if (intervalMs <= 0) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') refresh();
    }, intervalMs);
    return () => clearInterval(timer);
  }, deps);

  return { data, error, loading, updatedAt, refresh };
}

/** Says that a view follows the server by itself, and when it last heard from it. */
export function LiveNote({ updatedAt, what }: { updatedAt: number | null; what: string }) {
  return (
    <p class="muted small live">
      <span class="live-dot" aria-hidden="true" /> {what} updates by itself every {POLL_MS / 1000} seconds
      {updatedAt ? `; last updated ${new Date(updatedAt).toLocaleTimeString('en-GB')}` : ''}.
    </p>
  );
}

/** Re-renders every `ms`, so relative times move on between polls. */
export function useNow(ms = 10_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

export function formatRelative(iso: string, now: number = Date.now()): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(seconds, 'second');
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86_400) return relative.format(Math.round(seconds / 3600), 'hour');
  return relative.format(Math.round(seconds / 86_400), 'day');
}

export function formatAbsolute(iso: string): string {
  const date = new Date(iso);
  return `${date.toLocaleDateString('en-CA')} ${date.toLocaleTimeString('en-GB')}`;
}

/** A duration in ms as "850 ms", "12.5 s", "4 min", "3 h". */
export function roughDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A time shown both ways: relative in the text, absolute next to it (and machine-readable). */
export function Time({ iso }: { iso: string | null }) {
  const now = useNow();
  if (!iso) return <span class="muted">—</span>;
  return (
    <time dateTime={iso} title={new Date(iso).toISOString()}>
      {formatRelative(iso, now)} <span class="abs">({formatAbsolute(iso)})</span>
    </time>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}

export function ErrorNotice({ error, action }: { error: ApiError; action?: string }) {
  const advice =
    error.status === 0
      ? 'Check that the server is running, then this page retries by itself.'
      : error.status >= 500
        ? 'The server had a problem; its log says more. This page retries by itself.'
        : action;
  return (
    <div class="notice notice-error" role="alert">
      <strong>{error.message}</strong>
      {advice ? <p>{advice}</p> : null}
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children}
    </div>
  );
}

/** Renders an attempt's error as the API gives it: a string, or an object such as `{kind, detail}`. */
export function AttemptError({ error }: { error: unknown }) {
  if (error === null || error === undefined) return <span class="muted">—</span>;
  if (typeof error === 'string') return <code class="error-text">{error}</code>;
  if (typeof error === 'object' && 'kind' in error) {
    const { kind, detail } = error as { kind: unknown; detail?: unknown };
    return (
      <span class="error-text">
        <code>{String(kind)}</code>
        {detail !== undefined && detail !== null && detail !== '' ? (
          <span> — {typeof detail === 'string' ? detail : JSON.stringify(detail)}</span>
        ) : null}
      </span>
    );
  }
  return <code class="error-text">{JSON.stringify(error)}</code>;
}

/** A `#/path?query` location, read and written without reloading. */
export interface Route {
  path: string[];
  params: URLSearchParams;
}

export function readRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, search] = hash.split('?', 2);
  return { path: path ? path.split('/').map(decodeURIComponent) : [], params: new URLSearchParams(search ?? '') };
}

export function href(path: string, params: Record<string, string | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return `#/${path}${text ? `?${text}` : ''}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const update = () => setRoute(readRoute());
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

/** One column of a StackTable: its header, and its cell in a row. */
export interface Column<T> {
  label: string;
  /** A number: right-aligned. */
  num?: boolean;
  /** More classes of the cell. */
  class?: string;
  testId?: string;
  cell(row: T): ComponentChildren;
}

/**
 * A table that becomes labelled cards on a phone (`stack` in the styles): each column is named once,
 * for its header and for the label its cells show there.
 */
export function StackTable<T>({
  class: extra,
  columns,
  rows,
  rowKey,
  rowData,
}: {
  class?: string;
  columns: Column<T>[];
  rows: T[];
  rowKey(row: T): string | number;
  /** `data-*` attributes of a row (what tests and styles select it by). */
  rowData(row: T): Record<`data-${string}`, string | number>;
}) {
  const classOf = (column: Column<T>) =>
    [column.num ? 'num' : '', column.class ?? ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class="table-wrap">
      <table class={extra ? `stack ${extra}` : 'stack'}>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.label} scope="col" class={column.num ? 'num' : undefined}>
                {column.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} {...rowData(row)}>
              {columns.map((column) => (
                <td key={column.label} data-label={column.label} class={classOf(column)} data-testid={column.testId}>
                  {column.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
