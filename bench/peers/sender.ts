import { randomBytes } from 'node:crypto';
import { callbackRequest } from '../../packages/server/src/delivery/callback-request.js';
import type { ClaimedMessage } from '../../packages/server/src/services/messages.js';
import { serveRpc } from '../lib/ipc.js';
import { carrierPayload } from '../lib/payload.js';
import { peerDelivery } from '../lib/peer-delivery.js';

/**
 * The sender (SPEC §10): the limit of the sending half on this machine. Our engine's own request
 * building, signing and HttpSender (undici pool, same timeout and connections per origin), posting
 * bodies prepared in memory with `inFlight` requests at a time, with no database and no bookkeeping.
 */
interface Options {
  listener: string;
  inFlight: number;
  attemptTimeoutMs: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const { sender, signer, claimed } = peerDelivery({
  listener: options.listener,
  connections: options.inFlight,
  timeoutMs: options.attemptTimeoutMs,
});
let prepared: ClaimedMessage[] = [];

/** Messages as a claim would hand them over: stored payload text, first attempt. */
function prepare(count: number): void {
  prepared = Array.from({ length: count }, (_, i) =>
    claimed(`msg_${randomBytes(16).toString('hex')}`, JSON.stringify(carrierPayload(i))),
  );
}

/** Sends every prepared message, `inFlight` at a time; resolves with how many got a 2xx. */
async function deliver(): Promise<number> {
  let next = 0;
  let delivered = 0;
  const lane = async () => {
    while (next < prepared.length) {
      const item = prepared[next++];
      const request = callbackRequest(item, {
        attemptNumber: 1,
        now: Date.now(),
        signer,
        userAgent: 'ccb/bench-sender',
      });
      const result = await sender.send(item.registration.url, request.headers, request.body);
      if (result.error === null) delivered++;
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, lane));
  return delivered;
}

const rpc = serveRpc({
  prepare: ({ count }: { count: number }) => {
    prepare(count);
    return prepared.length;
  },
  // Answers at once; the orchestrator counts arrivals at the listener, as for the other systems.
  deliver: () => {
    void deliver();
    return true;
  },
  async stop() {
    await sender.close();
    setTimeout(() => process.exit(0), 20);
  },
});
rpc.ready({ inFlight: options.inFlight });
