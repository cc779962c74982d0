import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_NAMES } from '@ccb/sdk';
import fastifyStatic from '@fastify/static';
// The `hide` of the route schemas below is @fastify/swagger's (also when the dashboard reads these types).
import type {} from '@fastify/swagger';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { AppContext } from '../context.js';
import { DEV_CREDENTIALS } from '../dev.js';
import { USER_AGENT } from '../version.js';
import { ErrorCodes, HttpError } from './errors.js';

/** Where `npm run build` puts the dashboard (web/build.mjs); the same folder from src/ and dist/. */
export const DASHBOARD_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

const Profile = Type.Object({
  version: Type.String(),
  userAgent: Type.String({ description: 'The user-agent header of deliveries' }),
  services: Type.Array(Type.String()),
  listenerPort: Type.Integer({
    description: 'A port this server accepts in listener URLs (CCB_ALLOWED_PORTS), for the examples the page shows',
  }),
  devAdminToken: Type.Optional(
    Type.String({ description: 'Only in the dev profile, and only while the admin token is the documented dev one' }),
  ),
});

/** `ccb listen`'s habit (9001, the first of the platform's listener ports) when allowed, else an allowed port. */
export function examplePort(allowed: ReadonlySet<number> | null): number {
  if (allowed === null || allowed.has(9001)) return 9001;
  const ports = [...allowed].sort((a, b) => a - b);
  // An unprivileged port, so that `ccb listen` can bind it without root.
  return ports.find((port) => port >= 1024) ?? ports[0];
}

/**
 * The headers of a page of ours: it loads only its own script and style and talks only to this server;
 * `frameAncestors` says who may embed it (the dashboard: nobody; the portal: CCB_PORTAL_FRAME_ANCESTORS).
 */
export function pageSecurityHeaders(frameAncestors: string): Record<string, string> {
  return {
    'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors ${frameAncestors}`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  };
}

const SECURITY_HEADERS = pageSecurityHeaders("'none'");

/**
 * The dashboard (SPEC §9): static files under /ui, and /ui/profile.json, which tells the page what it
 * cannot know from the admin API before signing in. The page itself holds no token.
 */
export const uiRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext; version: string; root?: string }> = async (
  app,
  { ctx, version, root = DASHBOARD_ROOT },
) => {
  app.get(
    '/ui/profile.json',
    {
      schema: {
        tags: ['Dashboard'],
        operationId: 'getDashboardProfile',
        'x-examples': {
          responses: {
            200: {
              version: '0.1.0',
              userAgent: 'ccb/0.1.0',
              services: ['CarrierService', 'DeviceService', 'DeviceUsage'],
              listenerPort: 9001,
              devAdminToken: DEV_CREDENTIALS.adminToken,
            },
          },
        },
        summary: 'What the dashboard needs before sign-in: version, service names and, in dev, the dev admin token',
        description:
          'The dev profile signs the page in by itself with the publicly documented dev token; any other token is never sent.',
        response: { 200: Profile },
      },
    },
    async (_request, reply) => {
      reply.headers({ 'cache-control': 'no-store' });
      const devSignIn = ctx.config.dev && ctx.config.adminToken === DEV_CREDENTIALS.adminToken;
      return {
        version,
        userAgent: USER_AGENT,
        services: [...SERVICE_NAMES],
        listenerPort: examplePort(ctx.config.allowedPorts),
        ...(devSignIn ? { devAdminToken: DEV_CREDENTIALS.adminToken } : {}),
      };
    },
  );

  if (!existsSync(join(root, 'index.html'))) {
    const notBuilt = async () => {
      throw new HttpError(ErrorCodes.unavailable, 'the dashboard is not built: run npm run build');
    };
    app.get('/ui', { schema: { hide: true } }, notBuilt);
    app.get('/ui/*', { schema: { hide: true } }, notBuilt);
    return;
  }

  await app.register(async (ui) => {
    ui.addHook('onSend', async (_request, reply) => {
      reply.headers(SECURITY_HEADERS);
    });
    await ui.register(fastifyStatic, { root, prefix: '/ui/', index: false, logLevel: 'warn' });
    ui.get('/ui', { schema: { hide: true } }, (_request, reply) => reply.sendFile('index.html'));
  });
};

/** What /ui/profile.json answers, for the dashboard. */
export type ProfileView = Static<typeof Profile>;
