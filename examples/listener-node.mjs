// A callback listener on plain Node (node:http).
// Run from the repository root: node examples/listener-node.mjs
// Environment: PORT (default 9001; 0 = any free port), HOST (default 127.0.0.1),
// CCB_SIGNING_SECRET (the registration's whsec_… secret; without it signatures are not checked),
// CALLBACK_USERNAME and CALLBACK_PASSWORD (the credentials given at registration; unchecked without them).
import { createServer } from 'node:http';
import { createListener } from '@ccb/sdk/listener';

const listener = createListener({
  signingSecrets: process.env.CCB_SIGNING_SECRET,
  username: process.env.CALLBACK_USERNAME,
  password: process.env.CALLBACK_PASSWORD,
  onMessage: async ({ id, account, service, attempt, body }) => {
    // Narrowing on `service` types `body` as that service's message.
    if (service === 'CarrierService') console.log('received', id, account, service, attempt, body.status);
    else console.log('received', id, account, service, attempt);
  },
});

const server = createServer(listener);
server.listen(Number(process.env.PORT ?? 9001), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}/`);
});
