import { DEV_CREDENTIALS } from '../config.js';
import { flag, setting, text } from '../settings.js';

/** The common options of the client commands (SPEC §9); defaults are the dev profile's values. */
export const CONNECTION_SETTINGS = {
  server: setting({
    flag: '--server <url>',
    env: ['CCB_SERVER'],
    default: 'http://127.0.0.1:8080',
    description: 'server base URL (the SDK uses <url>/api)',
    parse: serverUrl,
  }),
  clientId: setting({
    flag: '--client-id <id>',
    env: ['CCB_CLIENT_ID'],
    default: DEV_CREDENTIALS.clientId,
    description: 'OAuth client id',
    parse: text,
  }),
  clientSecret: setting({
    flag: '--client-secret <secret>',
    env: ['CCB_CLIENT_SECRET'],
    default: DEV_CREDENTIALS.clientSecret,
    description: 'OAuth client secret',
    parse: text,
  }),
  username: setting({
    flag: '--username <user>',
    env: ['CCB_USERNAME'],
    default: DEV_CREDENTIALS.username,
    description: 'user to log in as (session user)',
    parse: text,
  }),
  password: setting({
    flag: '--password <password>',
    env: ['CCB_PASSWORD'],
    default: DEV_CREDENTIALS.password,
    description: "that user's password",
    parse: text,
  }),
  adminToken: setting({
    flag: '--admin-token <token>',
    env: ['CCB_ADMIN_TOKEN'],
    default: DEV_CREDENTIALS.adminToken,
    description: 'admin API bearer token: CCB_ADMIN_TOKEN of the server, or an API key (ccbk_…, from ccb keys create)',
    parse: text,
  }),
};

/** What `ccb listen` checks; from the environment too, so secrets need not appear in `ps`. */
export const LISTEN_SETTINGS = {
  secrets: setting({
    flag: '--secret <whsec>',
    env: ['CCB_SIGNING_SECRET'],
    repeatable: true,
    defaultText: 'none: signatures are not checked',
    description: 'signing secret of the registration (whsec_…); repeat, or separate by commas, during a rotation',
    parse: (value: string) =>
      value
        .split(',')
        .map((secret) => secret.trim())
        .filter(Boolean),
  }),
  username: setting({
    flag: '--username <username>',
    env: ['CCB_CALLBACK_USERNAME'],
    defaultText: 'not checked',
    description: 'expected username in each message body (as registered)',
    parse: text,
  }),
  password: setting({
    flag: '--password <password>',
    env: ['CCB_CALLBACK_PASSWORD'],
    defaultText: 'not checked',
    description: 'expected password in each message body (as registered)',
    parse: text,
  }),
};

/** Settings of the ccb program itself. */
export const CLI_SETTINGS = {
  debug: setting({
    env: ['CCB_DEBUG'],
    default: '0',
    description: '1 prints the stack trace of an unexpected error',
    parse: flag,
  }),
};

function serverUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${value}" is not an absolute URL such as http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${value}" is not an http(s) URL`);
  return value.replace(/\/+$/, '');
}
