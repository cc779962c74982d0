/** What the orchestrator hands every section. */
export interface BenchContext {
  quick: boolean;
  log(message: string): void;
  /** Observations worth printing under the table (errors seen, fallbacks taken). */
  note(message: string): void;
}
