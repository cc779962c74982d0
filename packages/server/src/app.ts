import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { AccessService } from './access/service.js';
import { accessRoutes } from './api/access.js';
import { adminAuthorization, declareAdminScope, installAuditHooks } from './api/access-hooks.js';
import { adminRoutes } from './api/admin.js';
import { installBodyParsers } from './api/body-parsers.js';
import { callbacksRoutes } from './api/callbacks.js';
import { controlsRoutes } from './api/controls.js';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandlers } from './api/error-handlers.js';
import { healthRoutes } from './api/health.js';
import { installHostCheck } from './api/host-check.js';
import { messagesRoutes } from './api/messages.js';
import { metricsRoutes } from './api/metrics.js';
import { oauthRoutes } from './api/oauth.js';
import { portalRoutes } from './api/portal.js';
import { portalUiRoutes } from './api/portal-ui.js';
import { registrationsRoutes } from './api/registrations.js';
import { installRequestGuards } from './api/request-guards.js';
import { installRequestTextRule } from './api/request-text.js';
import { secretsRoutes } from './api/secrets.js';
import { sessionRoutes } from './api/session.js';
import { statsHistoryRoutes } from './api/stats-history.js';
import { pageSecurityHeaders, uiRoutes } from './api/ui.js';
import type { AppContext } from './context.js';
import { LazyChildLogger } from './logger.js';
import { API_DESCRIPTION, API_TITLE, describeOperations } from './openapi.js';
import { VERSION } from './version.js';

export { VERSION as SERVER_VERSION } from './version.js';

export interface BuildAppOptions {
  /** `worker` serves only /healthz, /readyz and /metrics (SPEC §8 role worker). Default `all`. */
  routes?: 'all' | 'worker';
  /** Clock for token and session expiry (tests). */
  clock?: () => number;
}

/** Our marks for the API reference page (tab and top bar), instead of a framework's logo. */
export const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1f6feb"/></svg>';
export const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="40"><text x="0" y="28" font-family="sans-serif" font-size="22" fill="#ffffff">${API_TITLE}</text></svg>`;

/** One log line per request, on completion (no "incoming request" line), without headers. */
class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // pino's check; skips building the line when info is off (benchmarks, quiet deployments).
    const log = reply.log as FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };
    if (!error && log.isLevelEnabled?.('info') === false) return;
    const line = {
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}

/** The HTTP application: every route of SPEC §3 and §4, OpenAPI at /openapi.json, docs at /docs. */
export async function buildApp(ctx: AppContext, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const http = ctx.config.http;
  const app = Fastify({
    loggerInstance: ctx.logger,
    bodyLimit: ctx.config.bodyLimitBytes,
    logController: new RequestLog(),
    childLoggerFactory: (logger, bindings, options) => new LazyChildLogger(logger, bindings, options),
    // The caller's address (throttle, audit log) from X-Forwarded-For only behind the proxies it names.
    trustProxy: ctx.config.access.trustProxy,
    routerOptions: { ignoreTrailingSlash: true },
    // Slow or stalled clients are cut (408) instead of holding a connection for ever (SPEC §3 limits).
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    http: {
      headersTimeout: http.headersTimeoutMs,
      // Node checks those timeouts on this interval (30 s by default, longer than the timeouts themselves).
      connectionsCheckingInterval: Math.min(1000, http.headersTimeoutMs),
      // Answered by the onRequest hook below, in the envelope; Node would send a bare 400.
      requireHostHeader: false,
    },
    return503OnClosing: false,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // Validation never changes a value: no coercion (`1` to `"1"`, `["x"]` to `"x"`, `"0x10"` to 16) and
    // no silent removal of unknown keys; query values stay text and the routes read their digits.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.maxConnections = http.maxConnections;

  installErrorHandlers(app);
  installRequestGuards(app);
  installHostCheck(app, ctx.config.allowedHosts);
  installBodyParsers(app);
  installRequestTextRule(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: API_TITLE, version: VERSION, description: API_DESCRIPTION },
      components: {
        securitySchemes: {
          basicAuth: { type: 'http', scheme: 'basic', description: 'OAuth client id and secret' },
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'Access token from /api/ts/v1/oauth2/token' },
          sessionToken: { type: 'apiKey', in: 'header', name: 'VZ-M2M-Token', description: 'From session/login' },
          adminToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'CCB_ADMIN_TOKEN (the root key) or an API key (ccbk_…) with the scope the operation names',
          },
          portalSession: { type: 'http', scheme: 'bearer', description: 'A portal session token (ccbp_…)' },
        },
      },
    },
    transformObject: (documentObject) =>
      describeOperations((documentObject as { openapiObject: Record<string, unknown> }).openapiObject),
  });
  await app.register(healthRoutes, { ctx });
  await app.register(metricsRoutes, { ctx });
  if (options.routes === 'worker') return app;

  // Served from the package's own assets, so the page works offline.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    logLevel: 'warn',
    // The base layout: the API's own title and description, without a framework's top bar and logo.
    uiConfig: { layout: 'BaseLayout', docExpansion: 'list', defaultModelsExpandDepth: 0 },
    logo: { type: 'image/svg+xml', content: Buffer.from(LOGO) },
    theme: {
      title: `${API_TITLE} API reference`,
      favicon: [
        { filename: 'favicon.svg', rel: 'icon', sizes: 'any', type: 'image/svg+xml', content: Buffer.from(FAVICON) },
      ],
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // The front door for a person: the dashboard.
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui'));

  const access = new AccessService(ctx, options.clock);
  const authenticator = access.platform;
  installAuditHooks(app, access);
  await app.register(
    async (api) => {
      await api.register(oauthRoutes, { authenticator });
      await api.register(sessionRoutes, { authenticator });
      await api.register(callbacksRoutes, { ctx, authenticator });
    },
    { prefix: '/api' },
  );
  await app.register(
    async (admin) => {
      // Each route's declared scope, shown in OpenAPI and checked by the authorization hook.
      admin.addHook('onRoute', declareAdminScope);
      admin.addHook('onRequest', adminAuthorization(access));
      await admin.register(adminRoutes, { access });
      await admin.register(accessRoutes, { ctx, access });
      await admin.register(messagesRoutes, { ctx });
      await admin.register(secretsRoutes, { ctx });
      await admin.register(registrationsRoutes, { ctx });
      await admin.register(controlsRoutes, { ctx });
      await admin.register(statsHistoryRoutes, { ctx });
    },
    { prefix: '/admin/v1' },
  );
  await app.register(portalRoutes, { ctx, access, prefix: '/portal/api' });
  await app.register(uiRoutes, { ctx, version: VERSION });
  await app.register(portalUiRoutes, { headers: pageSecurityHeaders(ctx.config.access.portalFrameAncestors) });
  return app;
}
