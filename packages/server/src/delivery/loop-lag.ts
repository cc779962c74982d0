import { performance } from 'node:perf_hooks';

/** How often the probe looks at the event loop. */
const TICK_MS = 20;
/** Share of the last reading kept per tick: a 600 ms pause reads under 20 ms again about 200 ms later. */
const DECAY = 0.7;

/**
 * How late this process's event loop runs, in ms: what it adds to any time it measures (an answer
 * that arrived during a GC pause or a busy turn is read that much later). A timer ticks every 20 ms
 * and notes how late it fired; the reading is the latest delay, fading out over a few ticks, or the
 * time the current turn has overrun the next tick already, whichever is more. The origin scheduler
 * takes it off the latencies and silences it judges origins by.
 */
export class LoopLag {
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  private lag = 0;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  start(): void {
    if (this.timer) return;
    this.lastTick = this.clock();
    this.timer = setInterval(this.tick, TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.lag = 0;
  }

  /** The loop's current delay in ms (0 when not started). */
  readonly current = (): number => {
    if (!this.timer) return 0;
    return Math.max(this.lag, this.clock() - this.lastTick - TICK_MS);
  };

  /** One tick: how late it came, folded into the fading reading (exposed for tests). */
  readonly tick = (): void => {
    const now = this.clock();
    const late = Math.max(0, now - this.lastTick - TICK_MS);
    this.lastTick = now;
    this.lag = Math.max(late, this.lag * DECAY);
  };
}
