import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { serveRpc } from './lib/ipc.js';
import { wallNow } from './lib/stats.js';

/**
 * The listener every delivery benchmark sends to: node:http, answers 200 with an empty body as soon
 * as the request body has arrived, and counts. It can listen on several ports (one origin each), make
 * some of them hang (never answer), and record publish→receive latency from the payload's
 * `benchSentAt` when asked to.
 */

interface Options {
  ports: number;
}

interface PortCounter {
  port: number;
  hang: boolean;
  count: number;
  first: number;
  last: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
let recordLatency = false;
let latencies: { sentAt: number; latencyMs: number }[] = [];
const held = new Set<ServerResponse>();
const sockets = new Set<Socket>();
const counters: PortCounter[] = [];
/** Requests received in each 100 ms since the first one after a reset, over every port. */
const BUCKET_MS = 100;
let timeline: number[] = [];
/** When the `markAt`-th request (over every port) arrived: lets a rate leave out a warm-up. */
let received = 0;
let markAt = 0;
let markTime = 0;
let timelineStart = 0;
const servers: Server[] = [];

function handler(counter: PortCounter) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      if (recordLatency) chunks.push(chunk);
    });
    req.on('end', () => {
      const now = wallNow();
      if (counter.count === 0) counter.first = now;
      counter.count++;
      counter.last = now;
      received++;
      if (received === markAt) markTime = now;
      if (timelineStart === 0) timelineStart = now;
      const bucket = Math.floor((now - timelineStart) / BUCKET_MS);
      // Bounded: an hour of buckets at most.
      if (bucket < 36_000) {
        while (timeline.length <= bucket) timeline.push(0);
        timeline[bucket]++;
      }
      if (recordLatency) {
        const sentAt = (JSON.parse(Buffer.concat(chunks).toString()) as { benchSentAt?: number }).benchSentAt;
        if (typeof sentAt === 'number') latencies.push({ sentAt, latencyMs: now - sentAt });
      }
      if (counter.hang) {
        // Never answer: the sender's attempt timeout is what ends this request.
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      res.writeHead(200, { 'content-length': '0' });
      res.end();
    });
  };
}

for (let i = 0; i < Math.max(1, options.ports ?? 1); i++) {
  const counter: PortCounter = { port: 0, hang: false, count: 0, first: 0, last: 0 };
  const server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, handler(counter));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  counter.port = (server.address() as AddressInfo).port;
  counters.push(counter);
  servers.push(server);
}

const rpc = serveRpc({
  /**
   * Zeroes the counters; `hang` lists the port indexes that stop answering; `latency` turns recording
   * on; `markAt` notes when that many requests have arrived.
   */
  reset(args: { hang?: number[]; latency?: boolean; markAt?: number } = {}) {
    for (const [i, c] of counters.entries()) {
      c.count = 0;
      c.first = 0;
      c.last = 0;
      c.hang = args.hang?.includes(i) ?? false;
    }
    recordLatency = args.latency ?? false;
    timeline = [];
    timelineStart = 0;
    received = 0;
    markAt = args.markAt ?? 0;
    markTime = 0;
    latencies = [];
    for (const res of held) res.destroy();
    return true;
  },
  counts() {
    return counters.map(({ port, hang, count, first, last }) => ({ port, hang, count, first, last }));
  },
  mark() {
    return { markAt, markTime };
  },
  timeline() {
    return { bucketMs: BUCKET_MS, counts: timeline };
  },
  latencies() {
    return latencies;
  },
  async stop() {
    for (const res of held) res.destroy();
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    setTimeout(() => process.exit(0), 20);
  },
});
rpc.ready({ ports: counters.map((c) => c.port) });
