// A callback listener inside an Express app.
// Run from the repository root: node examples/listener-express.mjs
// Environment as for listener-node.mjs: PORT, HOST, CCB_SIGNING_SECRET, CALLBACK_USERNAME, CALLBACK_PASSWORD.
import { createListener } from '@ccb/sdk/listener';
import express from 'express';

const listener = createListener({
  signingSecrets: process.env.CCB_SIGNING_SECRET,
  username: process.env.CALLBACK_USERNAME,
  password: process.env.CALLBACK_PASSWORD,
  onMessage: async ({ id, account, service, attempt }) => {
    console.log('received', id, account, service, attempt);
  },
});

const app = express();
// Mounted before any JSON body parser, so that the listener reads the exact bytes that were signed.
// If a parser must run first, use: app.post('/', express.raw({ type: '*/*' }), listener)
app.post('/', listener);
app.use(express.json()); // the rest of the app
app.get('/health', (_request, response) => {
  response.json({ status: 'ok' });
});

const server = app.listen(Number(process.env.PORT ?? 9001), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}/`);
});
