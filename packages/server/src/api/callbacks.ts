import { SERVICES } from '@ccb/sdk';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { Authenticator } from '../access/platform.js';
import type { AppContext } from '../context.js';
import { DEV_CREDENTIALS } from '../dev.js';
import type { Registration } from '../services/registrations.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import { accountName } from './schemas.js';

const SERVICE_NAMES: ReadonlySet<string> = new Set(SERVICES.map((s) => s.name));

/** At most 40 printable characters (no control, format or unassigned code points); the admin API uses it too. */
const CallbackCredential = Type.Unsafe<string | null>({
  type: ['string', 'null'],
  maxLength: 40,
  pattern: '^\\P{C}*$',
});

const AccountParams = Type.Object({
  aname: accountName('Account name, e.g. 0000123456-00001.'),
});

const ServiceParams = Type.Object({
  aname: AccountParams.properties.aname,
  sname: Type.String({ minLength: 1, maxLength: 128, description: 'Callback service name.' }),
});

const RegisterCallbackRequest = Type.Object({
  name: Type.String({ description: 'Callback service name, e.g. CarrierService.' }),
  url: Type.String({ description: 'Listener URL: absolute http(s), on an allowed port.' }),
  username: Type.Optional(CallbackCredential),
  password: Type.Optional(CallbackCredential),
});

const ConnectivityManagementCallback = Type.Object({
  accountName: Type.String(),
  serviceName: Type.String(),
  url: Type.String(),
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
});

const CallbackActionResult = Type.Object({ accountName: Type.String(), serviceName: Type.String() });

const errors = { 400: errorBodySchema, 401: errorBodySchema };
const security = [{ bearerAuth: [], sessionToken: [] }];
const ACCOUNT = DEV_CREDENTIALS.accountName;
const EXAMPLE = { name: 'CarrierService', url: 'http://127.0.0.1:9001/', username: 'acme', password: 's3cret' };
const ACTION_RESULT = { accountName: ACCOUNT, serviceName: 'CarrierService' };

/** The listing shape of the platform: credentials only when they were registered. */
function toCallback(registration: Registration): Static<typeof ConnectivityManagementCallback> {
  const callback: Static<typeof ConnectivityManagementCallback> = {
    accountName: registration.accountName,
    serviceName: registration.serviceName,
    url: registration.url,
  };
  if (registration.username !== null) callback.username = registration.username;
  if (registration.password !== null) callback.password = registration.password;
  return callback;
}

/**
 * The platform's rules of a registration (a known service, an allowed URL), then the registration; the
 * portal registers through here too. Errors are the platform's 400s.
 */
export async function registerListener(
  ctx: AppContext,
  input: { accountName: string; serviceName: string; url: string; username?: string | null; password?: string | null },
): Promise<Registration> {
  if (!SERVICE_NAMES.has(input.serviceName)) {
    throw new HttpError(
      ErrorCodes.serviceName,
      `name "${input.serviceName}" is not a callback service; expected one of ${[...SERVICE_NAMES].join(', ')}`,
    );
  }
  const problem = ctx.urlGuard.checkUrl(input.url);
  if (problem) throw new HttpError(ErrorCodes.url, problem);
  return ctx.registrations.upsert(input);
}

/** Listener credentials as the platform takes them: at most 40 printable characters, or null. */
export { CallbackCredential };

/** `/m2m/v1/callbacks/{aname}`: list, register and deregister listener URLs (SPEC §3). */
export const callbacksRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext; authenticator: Authenticator }> = async (
  app,
  { ctx, authenticator },
) => {
  const registrations = ctx.registrations;

  app.addHook('onRequest', authenticator.requireAccountAccess);

  app.get(
    '/m2m/v1/callbacks/:aname',
    {
      schema: {
        tags: ['Callbacks'],
        operationId: 'listRegisteredCallbacks',
        'x-examples': {
          responses: {
            200: [
              {
                accountName: ACCOUNT,
                serviceName: 'CarrierService',
                url: EXAMPLE.url,
                username: 'acme',
                password: 's3cret',
              },
            ],
          },
        },
        summary: 'List registered callbacks',
        security,
        params: AccountParams,
        response: { 200: Type.Array(ConnectivityManagementCallback), ...errors },
      },
    },
    async (request) => (await registrations.list(request.params.aname)).map(toCallback),
  );

  app.post(
    '/m2m/v1/callbacks/:aname',
    {
      schema: {
        tags: ['Callbacks'],
        operationId: 'registerCallback',
        'x-examples': {
          request: EXAMPLE,
          responses: {
            200: ACTION_RESULT,
            400: { errorCode: ErrorCodes.url, errorMessage: 'url: port 8443 is not an allowed listener port' },
          },
        },
        summary: 'Register a callback listener (replaces the URL of a service already registered)',
        security,
        params: AccountParams,
        body: RegisterCallbackRequest,
        response: { 200: CallbackActionResult, ...errors, 413: errorBodySchema, 415: errorBodySchema },
      },
    },
    async (request) => {
      const { aname } = request.params;
      const { name, url, username, password } = request.body;
      await registerListener(ctx, { accountName: aname, serviceName: name, url, username, password });
      return { accountName: aname, serviceName: name };
    },
  );

  app.delete(
    '/m2m/v1/callbacks/:aname/name/:sname',
    {
      schema: {
        tags: ['Callbacks'],
        operationId: 'deregisterCallback',
        'x-examples': {
          responses: {
            200: ACTION_RESULT,
            400: { errorCode: ErrorCodes.callbackNotFound, errorMessage: 'CarrierService is not registered' },
          },
        },
        summary: 'Deregister a callback (cancels its undelivered messages)',
        security,
        params: ServiceParams,
        response: { 200: CallbackActionResult, ...errors },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      if (!(await registrations.remove(aname, sname))) {
        throw new HttpError(ErrorCodes.callbackNotFound, `no callback is registered for ${sname} on ${aname}`);
      }
      return { accountName: aname, serviceName: sname };
    },
  );
};
