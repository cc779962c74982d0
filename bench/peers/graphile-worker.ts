import { randomBytes } from 'node:crypto';
import { makeWorkerUtils, type Runner, run, type WorkerUtils } from 'graphile-worker';
import { callbackRequest } from '../../packages/server/src/delivery/callback-request.js';
import { serveRpc } from '../lib/ipc.js';
import { carrierPayload } from '../lib/payload.js';
import { peerDelivery } from '../lib/peer-delivery.js';

/**
 * graphile-worker (0.17) delivering the same webhooks: a `deliver` task that builds, signs and POSTs
 * the body with our request code and undici sender, `concurrency` jobs at a time. `batched` turns on
 * its local queue (500) and immediate batched completion; otherwise it runs with its defaults.
 */
interface Options {
  connectionString: string;
  listener: string;
  concurrency: number;
  batched: boolean;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const { sender, signer, registration, claimed } = peerDelivery({
  listener: options.listener,
  connections: options.concurrency,
  timeoutMs: 15_000,
});

const preset = options.batched
  ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
  : undefined;
const runner: Runner = await run({
  connectionString: options.connectionString,
  concurrency: options.concurrency,
  noHandleSignals: true,
  pollInterval: 1_000,
  preset,
  taskList: {
    async deliver(payload, helpers) {
      const { id, body } = payload as { id: string; body: string };
      const request = callbackRequest(claimed(id, body), {
        attemptNumber: helpers.job.attempts,
        now: Date.now(),
        signer,
        userAgent: 'ccb/bench-graphile',
      });
      const result = await sender.send(registration.url, request.headers, request.body);
      if (result.error !== null) throw new Error(`delivery failed: ${result.statusCode ?? 'no status'}`);
    },
  },
});
const utils: WorkerUtils = await makeWorkerUtils({ connectionString: options.connectionString });

const rpc = serveRpc({
  /** Adds `count` jobs (the same bodies our engine delivers) in batches of 1,000. */
  async enqueue({ count, offset }: { count: number; offset: number }) {
    for (let start = 0; start < count; start += 1000) {
      const specs = [];
      for (let i = start; i < Math.min(count, start + 1000); i++) {
        specs.push({
          identifier: 'deliver',
          payload: { id: `msg_${randomBytes(16).toString('hex')}`, body: JSON.stringify(carrierPayload(offset + i)) },
          maxAttempts: 4,
        });
      }
      await utils.addJobs(specs);
    }
    return count;
  },
  async stop() {
    await runner.stop();
    await utils.release();
    await sender.close();
    setTimeout(() => process.exit(0), 20);
  },
});
rpc.ready({ batched: options.batched });
