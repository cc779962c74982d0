/** What the orchestrator hands every section. */
export interface BenchContext {
  quick: boolean;
  log(message: string): void;
  /** Observations worth printing under the table (errors seen, fallbacks taken). */
  note(message: string): void;
}

/**
 * A smoke run's message count from `BENCH_<SECTION>_COUNT` (e.g. BENCH_DELIVERY_COUNT=2000), else
 * `fallback`; figures are taken at the defaults. A value that is not a positive whole number stops
 * the run rather than measuring something else.
 */
export function countOverride(section: string, fallback: number): number {
  const name = `BENCH_${section.toUpperCase()}_COUNT`;
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^[1-9]\d*$/.test(value)) throw new Error(`${name} must be a positive whole number, not "${value}"`);
  return Number(value);
}
