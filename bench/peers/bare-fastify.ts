import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { serveRpc } from '../lib/ipc.js';

/**
 * The API and ingest ratios' peers: the least a Fastify server can do for the same requests. GET
 * returns a fixed JSON document (the list response our server gave for the seeded registrations); the
 * POST routes (register, publish) do one prepared SQLite INSERT per request on a WAL database, with
 * the same synchronous setting as our store.
 */
interface Options {
  db: string;
  listJson: unknown;
  synchronous?: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const db = new Database(options.db);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
db.exec(`CREATE TABLE IF NOT EXISTS registrations (
  id INTEGER PRIMARY KEY,
  account_name TEXT NOT NULL,
  service_name TEXT NOT NULL,
  url TEXT NOT NULL,
  created_at INTEGER NOT NULL
)`);
const insert = db.prepare(
  'INSERT INTO registrations (account_name, service_name, url, created_at) VALUES (?, ?, ?, ?)',
);
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  account_name TEXT NOT NULL,
  service_name TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL
)`);
const insertMessage = db.prepare(
  'INSERT INTO messages (account_name, service_name, payload, created_at) VALUES (?, ?, ?, ?)',
);

const app = Fastify({ logger: false });
app.get('/api/m2m/v1/callbacks/:aname', async () => options.listJson);
app.post<{ Params: { aname: string }; Body: { name: string; url: string } }>(
  '/api/m2m/v1/callbacks/:aname',
  async (req) => {
    insert.run(req.params.aname, req.body.name, req.body.url, Date.now());
    return { accountName: req.params.aname, serviceName: req.body.name };
  },
);
// The ingest section's peer: a publish route doing one INSERT of the payload, nothing else.
app.post<{ Body: { accountName: string; serviceName: string; payload: unknown } }>(
  '/admin/v1/messages',
  async (req, reply) => {
    const { lastInsertRowid } = insertMessage.run(
      req.body.accountName,
      req.body.serviceName,
      JSON.stringify(req.body.payload),
      Date.now(),
    );
    reply.code(202);
    return { messageId: String(lastInsertRowid), status: 'pending' };
  },
);
const address = await app.listen({ port: 0, host: '127.0.0.1' });

const rpc = serveRpc({
  rows: () => (db.prepare('SELECT count(*) AS n FROM registrations').get() as { n: number }).n,
  async stop() {
    await app.close();
    db.close();
    setTimeout(() => process.exit(0), 20);
  },
});
rpc.ready({ address });
