import { randomBytes } from 'node:crypto';
import { makeWorkerUtils, type Runner, run, type WorkerUtils } from 'graphile-worker';
import { callbackRequest } from '../../packages/server/src/delivery/callback-request.js';
import { HttpSender } from '../../packages/server/src/delivery/http-sender.js';
import { Signer } from '../../packages/server/src/delivery/signer.js';
import { UrlGuard } from '../../packages/server/src/delivery/url-guard.js';
import type { ClaimedMessage } from '../../packages/server/src/services/messages.js';
import { serveRpc } from '../lib/ipc.js';
import { carrierPayload } from '../lib/payload.js';

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
const sender = new HttpSender({
  guard: new UrlGuard({ allowedPorts: null, allowLoopback: true, allowPrivate: false }),
  timeoutMs: 15_000,
  connectionsPerOrigin: options.concurrency,
});
const signer = new Signer();
const now = Date.now();
const registration: ClaimedMessage['registration'] = {
  accountName: '0000123456-00001',
  serviceName: 'CarrierService',
  url: options.listener,
  username: null,
  password: null,
  signingSecret: `whsec_${randomBytes(24).toString('base64')}`,
  previousSecret: null,
  previousSecretExpiresAt: null,
  createdAt: now,
  updatedAt: now,
};

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
      const claimed = {
        message: {
          id,
          accountName: registration.accountName,
          serviceName: registration.serviceName,
          payload: body,
          status: 'delivering',
          attempts: 0,
          maxAttempts: 4,
          nextAttemptAt: null,
          lockedUntil: null,
          reason: null,
          idempotencyKey: null,
          createdAt: now,
          updatedAt: now,
          deliveredAt: null,
        },
        registration,
      } satisfies ClaimedMessage;
      const request = callbackRequest(claimed, helpers.job.attempts, Date.now(), signer, 'ccb/bench-graphile');
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
