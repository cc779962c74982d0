// A callback listener inside a Fastify app.
// Run from the repository root: node examples/listener-fastify.mjs
// Environment as for listener-node.mjs: PORT, HOST, CCB_SIGNING_SECRET, CALLBACK_USERNAME, CALLBACK_PASSWORD.
import { createListener } from '@ccb/sdk/listener';
import Fastify from 'fastify';

const listener = createListener({
  signingSecrets: process.env.CCB_SIGNING_SECRET,
  username: process.env.CALLBACK_USERNAME,
  password: process.env.CALLBACK_PASSWORD,
  onMessage: async ({ id, account, service, attempt }) => {
    console.log('received', id, account, service, attempt);
  },
});

const app = Fastify();
app.post('/', {
  // onRequest runs before Fastify reads the body, so the listener sees the exact signed bytes.
  onRequest: async (request, reply) => {
    reply.hijack(); // the listener writes the response itself
    await listener(request.raw, reply.raw);
  },
  handler: async () => {}, // never reached
});

const address = await app.listen({ port: Number(process.env.PORT ?? 9001), host: process.env.HOST ?? '127.0.0.1' });
console.log(`listening on ${address}/`);
