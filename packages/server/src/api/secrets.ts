import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { AppContext } from '../context.js';
import { ROTATION_GRACE_MS } from '../services/registrations.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import { AccountName, iso } from './message-schemas.js';

/** `86400000` → `24 hours`, for the route descriptions (the durations are the services' own). */
function hours(ms: number): string {
  return `${ms / 3_600_000} hours`;
}

const RegistrationParams = Type.Object({ aname: AccountName, sname: Type.String({ minLength: 1, maxLength: 64 }) });
export const SecretBody = Type.Object({
  secret: Type.String(),
  previousSecret: Type.Optional(Type.String()),
  previousSecretExpiresAt: Type.Optional(Type.String({ format: 'date-time' })),
});

const SECRET = { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };
const errors = { 400: errorBodySchema, 401: errorBodySchema };

/** A registration's signing secret as the secret routes answer it (the previous one only while it is valid). */
export function secretBody(registration: {
  signingSecret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: number | null;
}) {
  const body: { secret: string; previousSecret?: string; previousSecretExpiresAt?: string } = {
    secret: registration.signingSecret,
  };
  const expires = registration.previousSecretExpiresAt;
  if (registration.previousSecret && expires !== null && expires > Date.now()) {
    body.previousSecret = registration.previousSecret;
    body.previousSecretExpiresAt = iso(expires);
  }
  return body;
}

/** Admin signing-secret routes (SPEC §4): a registration's secret, and its rotation. */
export const secretsRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  const { registrations } = ctx;

  const noRegistration = (aname: string, sname: string) =>
    new HttpError(ErrorCodes.notFound, `account ${aname} has no registration for ${sname}`);

  app.get(
    '/callbacks/:aname/:sname/secret',
    {
      config: { scope: 'secrets:read' },
      schema: {
        tags: ['Signing secrets'],
        operationId: 'getSigningSecret',
        'x-examples': { responses: { 200: SECRET } },
        summary: "A registration's signing secret (and the previous one during its grace period)",
        params: RegistrationParams,
        response: { 200: SecretBody, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      const registration = await registrations.get(aname, sname);
      if (!registration) throw noRegistration(aname, sname);
      return secretBody(registration);
    },
  );

  app.post(
    '/callbacks/:aname/:sname/secret/rotate',
    {
      config: { scope: 'secrets:read' },
      schema: {
        tags: ['Signing secrets'],
        operationId: 'rotateSigningSecret',
        'x-examples': {
          responses: {
            200: {
              secret: 'whsec_2bX9yQm4Vt7LkPz0Nc3Hr8Jd5Ws1Fa6E',
              previousSecret: SECRET.secret,
              previousSecretExpiresAt: '2026-12-02T09:30:00.000Z',
            },
          },
        },
        summary: `Rotate a signing secret; the previous one keeps signing for ${hours(ROTATION_GRACE_MS)}`,
        params: RegistrationParams,
        response: { 200: SecretBody, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      const registration = await registrations.rotateSecret(aname, sname);
      if (!registration) throw noRegistration(aname, sname);
      request.log.info({ account: aname, service: sname }, 'signing secret rotated');
      return secretBody(registration);
    },
  );
};

/** A signing secret as answered, for the dashboard. */
export type SecretView = Static<typeof SecretBody>;
