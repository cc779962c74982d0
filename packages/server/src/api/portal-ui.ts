import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { ErrorCodes, HttpError } from './errors.js';
import { DASHBOARD_ROOT } from './ui.js';

/** The portal page's files in the dashboard's build folder (web/build.mjs), and their types. */
const FILES = {
  'portal.html': 'text/html; charset=utf-8',
  'portal.js': 'text/javascript; charset=utf-8',
  'portal.css': 'text/css; charset=utf-8',
} as const;

/**
 * The account portal's page (docs/portal.md): `/portal` (`/portal/` too) and its script and style,
 * read once at start-up. Only these three paths: `/portal/api/…` belongs to the portal API. The
 * headers allow framing by the origins of CCB_PORTAL_FRAME_ANCESTORS only.
 */
export const portalUiRoutes: FastifyPluginAsync<{ headers: Record<string, string>; root?: string }> = async (
  app,
  { headers, root = DASHBOARD_ROOT },
) => {
  let files: Map<string, Buffer> | null = null;
  try {
    files = new Map(Object.keys(FILES).map((name) => [name, readFileSync(join(root, name))]));
  } catch {
    files = null;
  }
  const serve = (name: keyof typeof FILES) => async (_request: unknown, reply: FastifyReply) => {
    if (!files) throw new HttpError(ErrorCodes.unavailable, 'the portal is not built: run npm run build');
    return reply.headers(headers).type(FILES[name]).send(files.get(name));
  };
  app.get('/portal', { schema: { hide: true } }, serve('portal.html'));
  app.get('/portal/portal.js', { schema: { hide: true } }, serve('portal.js'));
  app.get('/portal/portal.css', { schema: { hide: true } }, serve('portal.css'));
};
