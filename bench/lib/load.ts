import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections?: number;
  seconds: number;
  warmupSeconds?: number;
}

export interface LoadResult {
  /** Successful (2xx) responses per second: errors never count as throughput. */
  rps: number;
  requests: number;
  non2xx: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
}

/** Runs autocannon (keep-alive, pipelining 1) after an unmeasured warm-up for the JIT and caches. */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const base = {
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.body ? { 'content-type': 'application/json', ...options.headers } : options.headers,
    body: options.body,
    connections: options.connections ?? 50,
    pipelining: 1,
    timeout: 10,
  };
  if (options.warmupSeconds) await autocannon({ ...base, duration: options.warmupSeconds });
  const result = await autocannon({ ...base, duration: options.seconds });
  return {
    rps: result['2xx'] / result.duration,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
  };
}
