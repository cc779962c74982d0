import pg from 'pg';

/** Waits after a lost listening connection, doubling up to the last value. */
const RECONNECT_DELAYS_MS = [100, 250, 500, 1_000, 2_000, 5_000];

/**
 * One listening connection per process (LISTEN needs a connection of its own, outside the pool).
 * When it drops, it reconnects with backoff; meanwhile and always, workers keep polling, so a lost
 * notification only costs latency, never a message.
 */
export class Notifier {
  private client: pg.Client | null = null;
  private readonly listeners = new Map<string, Set<() => void>>();
  private reconnects = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    /** How to connect (timeouts and keepalive as the pool's: database.ts `connectionSettings`). */
    private readonly settings: pg.ClientConfig,
    private readonly channels: readonly string[],
  ) {
    for (const channel of channels) this.listeners.set(channel, new Set());
  }

  subscribe(channel: string, listener: () => void): () => void {
    const listeners = this.listeners.get(channel);
    if (!listeners) throw new Error(`unknown channel ${channel}`);
    listeners.add(listener);
    if (!this.client && !this.timer) void this.connect();
    return () => {
      listeners.delete(listener);
    };
  }

  private notifyAll(): void {
    for (const listeners of this.listeners.values()) for (const listener of listeners) listener();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client(this.settings);
    this.client = client;
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = null;
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      for (const listener of this.listeners.get(message.channel) ?? []) listener();
    });
    try {
      await client.connect();
      for (const channel of this.channels) await client.query(`LISTEN ${channel}`);
      this.reconnects = 0;
      // Whatever happened while not listening: messages may be due, registrations may have changed.
      this.notifyAll();
    } catch {
      onLost();
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(this.reconnects, RECONNECT_DELAYS_MS.length - 1)];
    this.reconnects++;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
    this.timer.unref();
  }
}
