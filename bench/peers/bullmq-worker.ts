import { createHmac, randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { Pool } from 'undici';
import { serveRpc } from '../lib/ipc.js';

/**
 * The delivery peer: a BullMQ worker on a local redis-server doing the same deliveries as our engine
 * (same body, Standard Webhooks signature, POST with undici over a keep-alive pool, 2xx = done,
 * anything else = failed attempt retried by BullMQ).
 */
interface Options {
  redisPort: number;
  queue: string;
  listener: string;
  concurrency: number;
}

export interface DeliveryJob {
  payload: Record<string, unknown>;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const secret = randomBytes(24);
const url = new URL(options.listener);
const pool = new Pool(url.origin, { connections: options.concurrency, pipelining: 1 });
let delivered = 0;

const worker = new Worker<DeliveryJob>(
  options.queue,
  async (job) => {
    const body = JSON.stringify({
      ...job.data.payload,
      username: '',
      password: '',
      callbackCount: job.attemptsMade + 1,
      maxCallbackThreshold: 4,
    });
    const id = job.id ?? '';
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest('base64');
    const res = await pool.request({
      method: 'POST',
      path: url.pathname,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': timestamp,
        'webhook-signature': `v1,${signature}`,
        'user-agent': 'bullmq-peer',
      },
      body,
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`listener answered ${res.statusCode}`);
    delivered++;
  },
  {
    connection: { host: '127.0.0.1', port: options.redisPort, maxRetriesPerRequest: null },
    concurrency: options.concurrency,
    autorun: true,
  },
);
await worker.waitUntilReady();

const rpc = serveRpc({
  delivered: () => delivered,
  async stop() {
    await worker.close();
    await pool.close();
    setTimeout(() => process.exit(0), 20);
  },
});
rpc.ready({ concurrency: options.concurrency });
