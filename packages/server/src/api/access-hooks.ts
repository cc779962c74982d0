import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { bearerToken } from '../access/platform.js';
import { mayUseAccount, type Principal, type Scope } from '../access/principal.js';
import type { AccessService } from '../access/service.js';
import { ErrorCodes, HttpError } from './errors.js';
import { ACCOUNT_NAME } from './schemas.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling: set by the admin and portal hooks, and by the platform's session hook. */
    principal?: Principal;
    /** What the audit entry of this call says beyond what the route and its params tell (see auditHooks). */
    audit?: { accountName?: string | null; target?: string | null; summary?: string };
  }
  interface FastifyContextConfig {
    /** The scope an admin route needs: declared once, beside the route's schema (docs/access.md). */
    scope?: Scope;
    /** false: calls of this route are not recorded in the audit log (publishing, credential exchanges). */
    audit?: boolean;
  }
}

/** What the authorization hook applies to an admin route that declares no scope: the narrowest one. */
export const UNDECLARED_SCOPE: Scope = 'admin';

/**
 * onRoute hook of /admin/v1: shows each route's declared scope in OpenAPI (`x-ccb-scope`, with the
 * bearer security scheme), from the one declaration in the route's config.
 */
export function declareAdminScope(route: RouteOptions): void {
  const config = (route.config ?? {}) as { scope?: Scope };
  const scope = config.scope ?? UNDECLARED_SCOPE;
  route.config = { ...config, scope };
  if (route.schema) {
    const schema = route.schema as Record<string, unknown>;
    schema['x-ccb-scope'] = scope;
    schema.security = [{ adminToken: [] }];
  }
}

/** The scope the admin route being called declares. */
export function routeScope(request: FastifyRequest): Scope {
  return (request.routeOptions.config as { scope?: Scope }).scope ?? UNDECLARED_SCOPE;
}

const unauthorized = () =>
  new HttpError(
    ErrorCodes.unauthorized,
    'the admin API needs Authorization: Bearer <CCB_ADMIN_TOKEN or an API key that is neither revoked nor expired>',
  );

/**
 * onRequest hook of /admin/v1: the caller (root token or API key), the route's declared scope, and the
 * `:aname` of the path against the key's accounts. The root token is checked synchronously (no promise
 * per publish); a key is read from the database.
 */
export function adminAuthorization(access: AccessService) {
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    const token = bearerToken(request.headers.authorization);
    if (!token) throw unauthorized();
    if (access.isRootToken(token)) {
      request.principal = access.rootPrincipal;
      done();
      return;
    }
    access.adminPrincipal(token).then((principal) => {
      if (!principal) return done(unauthorized());
      request.principal = principal;
      const scope = routeScope(request);
      if (!principal.scopes.has(scope)) {
        return done(new HttpError(ErrorCodes.forbidden, `the key ${principal.name} does not have the ${scope} scope`));
      }
      const aname = (request.params as { aname?: unknown }).aname;
      try {
        if (typeof aname === 'string' && ACCOUNT_NAME.test(aname)) requireAccount(request, aname);
      } catch (error) {
        return done(error as Error);
      }
      done();
    }, done);
  };
}

/** Refuses (403) an account the caller may not use; nothing is read or changed for it. */
export function requireAccount(request: FastifyRequest, accountName: string): void {
  const principal = request.principal;
  if (principal && !mayUseAccount(principal, accountName)) {
    throw new HttpError(ErrorCodes.accountNotAllowed, `${describe(principal)} may not use account ${accountName}`);
  }
}

/** The accounts the caller is limited to, or null for every account. */
export function accountsOf(request: FastifyRequest): ReadonlySet<string> | null {
  return request.principal?.accounts ?? null;
}

/**
 * The one account a list of a limited caller reads when no account was named: its only account; a
 * caller limited to several must name one (400). Unlimited callers get `given` as it is.
 */
export function listAccount(request: FastifyRequest, given: string | undefined): string | undefined {
  if (given !== undefined) {
    requireAccount(request, given);
    return given;
  }
  const accounts = accountsOf(request);
  if (accounts === null) return undefined;
  if (accounts.size === 1) return [...accounts][0];
  throw new HttpError(
    ErrorCodes.requestQuery,
    `this key is limited to the accounts ${[...accounts].join(', ')}: name one with accountName`,
  );
}

function describe(principal: Principal): string {
  if (principal.kind === 'key') return `the key ${principal.name}`;
  if (principal.kind === 'portal-link') return 'this portal link';
  return `user ${principal.name}`;
}

/**
 * Adds the audit hook to every state-changing route registered after this call (docs/access.md#audit-log):
 * on the routes themselves, so that reads and publishing (which opt out) pay nothing for it. The entry
 * is written before the answer is sent (the answer waits for its commit, which it shares with the other
 * entries of its event-loop turn), so no answered call goes unrecorded because the process stopped or
 * the caller hung up. If the database refuses the entry itself, the change it records is already
 * committed: the answer is sent anyway and the failure logged.
 */
export function installAuditHooks(app: FastifyInstance, access: AccessService): void {
  const onSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    // An error answer made after this hook ran (another onSend hook failing) passes it again.
    if (!request.principal || recorded.has(request)) return payload;
    recorded.add(request);
    let errorCode: string | null = null;
    let answer: Record<string, unknown> | undefined;
    if (typeof payload === 'string') {
      try {
        const body = JSON.parse(payload) as Record<string, unknown>;
        if (reply.statusCode >= 400) {
          if (typeof body.errorCode === 'string') errorCode = body.errorCode;
        } else answer = body;
      } catch {
        // Not JSON: nothing to take from it.
      }
    }
    const entry = auditEntry(request, reply.statusCode, errorCode, answer);
    await access.record(entry).catch((error: unknown) => {
      request.log.error({ err: error, action: entry.action }, 'the audit entry could not be written');
    });
    return payload;
  };
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = route.config as { audit?: boolean } | undefined;
    if (methods.every((method) => READ_METHODS.has(method)) || config?.audit === false) return;
    route.onSend = [...hooksOf(route.onSend), onSend] as RouteOptions['onSend'];
  });
}

const recorded = new WeakSet<FastifyRequest>();

function hooksOf(hooks: unknown): unknown[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Body fields whose values are never written anywhere: they are secrets or credentials. */
const SECRET_FIELDS = new Set(['password', 'clientSecret', 'secret', 'token', 'key', 'username', 'previousSecret']);

/** `field=value` pairs of the body, secrets shown only as set; at most 500 characters. */
export function summarize(body: unknown): string {
  if (body === null || typeof body !== 'object') return '';
  const parts: string[] = [];
  for (const [field, value] of Object.entries(body as Record<string, unknown>)) {
    if (SECRET_FIELDS.has(field)) {
      parts.push(`${field} ${value === null || value === undefined || value === '' ? 'cleared' : 'set'}`);
    } else parts.push(`${field}=${JSON.stringify(value)}`);
  }
  const text = parts.join(', ');
  return text.length > 500 ? `${text.slice(0, 499)}…` : text;
}

const TARGET_PARAMS = ['id', 'keyId', 'jobId', 'clientId', 'username', 'sname'];
const TARGET_ANSWERS = ['id', 'clientId', 'username', 'messageId', 'jobId', 'serviceName'];

function auditEntry(
  request: FastifyRequest,
  statusCode: number,
  errorCode: string | null,
  answer: Record<string, unknown> | undefined,
) {
  const params = (request.params ?? {}) as Record<string, unknown>;
  const body = (request.body ?? {}) as Record<string, unknown>;
  const given = request.audit ?? {};
  const principal = request.principal as Principal;
  const fromParams = TARGET_PARAMS.map((name) => params[name]).find((value) => typeof value === 'string');
  const fromAnswer = TARGET_ANSWERS.map((name) => answer?.[name]).find((value) => typeof value === 'string');
  const accountName =
    given.accountName !== undefined
      ? given.accountName
      : typeof params.aname === 'string'
        ? params.aname
        : typeof body.accountName === 'string'
          ? body.accountName
          : null;
  const schema = request.routeOptions.schema as { operationId?: string } | undefined;
  return {
    actorKind: principal.kind,
    actorName: principal.name,
    // A caller that hung up leaves no address on its socket; the entry is written all the same.
    address: request.ip ?? 'unknown',
    action: schema?.operationId ?? `${request.method} ${request.routeOptions.url}`,
    method: request.method,
    route: request.routeOptions.url ?? request.url,
    accountName,
    target: given.target !== undefined ? given.target : ((fromParams ?? fromAnswer ?? null) as string | null),
    summary: given.summary ?? summarize(body),
    statusCode,
    outcome: statusCode < 400 ? ('ok' as const) : statusCode < 500 ? ('refused' as const) : ('failed' as const),
    errorCode,
  };
}
