import type { Configuration, SessionCredentials } from '../configuration.js';
import { parseJson } from '../errors.js';
import type { Exchange, HttpResponse } from '../http/http-client.js';
import { requestAccessToken } from './oauth-token.js';
import { readSessionToken, sendLogin } from './session-login.js';
import { type IssuedToken, TokenCache } from './token-cache.js';

export interface M2mCredentials {
  accessToken: string;
  sessionToken: string;
}

/**
 * Holds the two credentials every callback call carries: the OAuth bearer token and the session token
 * (`VZ-M2M-Token`), each fetched once, shared, and fetched again when it expires or is refused.
 */
export class M2mTokens {
  private readonly accessTokens: TokenCache;
  /** A cache that logs in, or the static token the caller gave. */
  private readonly sessionTokens: TokenCache | string;

  constructor(
    private readonly baseUrl: string,
    private readonly exchange: Exchange,
    { oauth, session }: Pick<Configuration, 'oauth' | 'session'>,
  ) {
    this.accessTokens = new TokenCache(() => requestAccessToken(exchange, baseUrl, oauth));
    this.sessionTokens =
      session.kind === 'static' ? session.token : new TokenCache(() => this.logIn(session.credentials), true);
  }

  async credentials(): Promise<M2mCredentials> {
    // Session first: logging in may renew the access token.
    const sessionToken = typeof this.sessionTokens === 'string' ? this.sessionTokens : await this.sessionTokens.get();
    return { accessToken: await this.accessTokens.get(), sessionToken };
  }

  /**
   * A call carrying these credentials got `response`, a 401 or a 400 about the session token. Forget the
   * session so the next call logs in again, and the access token too when the server blamed it; with a
   * static session token the access token is all there is to renew.
   */
  refused({ accessToken, sessionToken }: M2mCredentials, response: HttpResponse): void {
    if (typeof this.sessionTokens === 'string' || blamesAccessToken(response)) {
      this.accessTokens.invalidate(accessToken);
    }
    if (typeof this.sessionTokens !== 'string') this.sessionTokens.invalidate(sessionToken);
  }

  private async logIn(credentials: SessionCredentials): Promise<IssuedToken> {
    let accessToken = await this.accessTokens.get();
    let response = await sendLogin(this.exchange, this.baseUrl, credentials, accessToken);
    if (response.statusCode === 401) {
      // The next login gets a new access token whatever the cause. This one is retried only when the
      // server blamed the token: a wrong password is never sent twice (five in a row lock the user).
      this.accessTokens.invalidate(accessToken);
      if (blamesAccessToken(response)) {
        accessToken = await this.accessTokens.get();
        response = await sendLogin(this.exchange, this.baseUrl, credentials, accessToken);
      }
    }
    return readSessionToken(response);
  }
}

/**
 * Whether a 401 is about the bearer token: RFC 6750's `WWW-Authenticate: Bearer error="invalid_token"`,
 * this server's `REQUEST_FAILED.AccessToken.*` codes, or the platform gateway's faults 900901/900902.
 */
function blamesAccessToken(response: HttpResponse): boolean {
  if (/invalid_token/i.test(response.headers['www-authenticate'] ?? '')) return true;
  const body = parseJson(response.body) as { errorCode?: unknown; fault?: { code?: unknown } } | undefined;
  if (typeof body?.errorCode === 'string' && /\.AccessToken\./i.test(body.errorCode)) return true;
  const faultCode = String(body?.fault?.code ?? '');
  return faultCode === '900901' || faultCode === '900902';
}
