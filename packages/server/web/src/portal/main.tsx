/**
 * The account portal at /portal (docs/portal.md): one account's registrations, messages, attempts and
 * replays for the people who own it, built from the dashboard's components. Two ways in: a portal
 * link (`/portal/#link=ccbl_…`, exchanged once for a session of one account) or the account's M2M
 * user (OAuth client + username/password).
 */
import '../styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type ApiError, asApiError } from '../http';
import { ErrorNotice, readRoute, useRoute } from '../ui';
import { type PortalSession, portalApi, portalSession, setPortalUnauthorizedHandler } from './api';
import { AccountPage, MessageView, portalHref } from './pages';

/** `#link=ccbl_…`: the link's token, read once and removed from the address. */
function takeLinkToken(): string | null {
  const match = /^#link=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, '', `${location.pathname}${location.search}`);
  return match[1];
}

function SignIn({ notice, onSession }: { notice: string | null; onSession(session: PortalSession): void }) {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="center">
      <form
        class="card sign-in"
        aria-label="Sign in to the portal"
        onSubmit={async (e) => {
          e.preventDefault();
          const data = new FormData(e.currentTarget);
          const text = (key: string) => String(data.get(key) ?? '');
          setBusy(true);
          setError(null);
          try {
            onSession(
              await portalApi.login({
                clientId: text('clientId').trim(),
                clientSecret: text('clientSecret'),
                username: text('username').trim(),
                password: text('password'),
              }),
            );
          } catch (caught) {
            setError(asApiError(caught));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>Callbacks portal</h1>
        <p>Sign in with your account's platform credentials: the OAuth client and the M2M user.</p>
        {notice ? (
          <p class="notice" role="status">
            {notice}
          </p>
        ) : null}
        <label for="client-id">OAuth client id</label>
        <input id="client-id" name="clientId" required autoComplete="username" />
        <label for="client-secret">OAuth client secret</label>
        <input id="client-secret" name="clientSecret" type="password" required autoComplete="off" />
        <label for="username">Username</label>
        <input id="username" name="username" required autoComplete="username" />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" required autoComplete="current-password" />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error ? <ErrorNotice error={error} /> : null}
      </form>
    </main>
  );
}

function Shell({ session, onSignOut }: { session: PortalSession; onSignOut(): void }) {
  const route = useRoute();
  const [section, aname = session.accounts[0], kind, id] = route.path;
  const account = session.accounts.includes(aname) ? aname : session.accounts[0];
  useEffect(() => {
    document.title = `${account} · Callbacks portal`;
  }, [account]);
  let page = <AccountPage session={session} account={account} params={route.params} />;
  if (section === 'a' && kind === 'messages' && id) page = <MessageView account={account} id={id} />;
  return (
    <>
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">Callbacks portal</span>
        {session.accounts.length > 1 ? (
          <nav aria-label="Accounts">
            {session.accounts.map((a) => (
              <a key={a} href={portalHref(a)} aria-current={a === account ? 'page' : undefined}>
                {a}
              </a>
            ))}
          </nav>
        ) : (
          <span class="muted">
            Account <strong data-testid="portal-account">{account}</strong>
          </span>
        )}
        <span class="muted small">{session.kind === 'portal-user' ? session.name : 'Signed in by link'}</span>
        <button type="button" class="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

function Portal() {
  const [session, setSession] = useState<PortalSession | null>(null);
  const [checking, setChecking] = useState(true);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    setPortalUnauthorizedHandler(() => {
      portalSession.forget();
      setSession(null);
      setNotice('Your portal session ended (it expired or was signed out). Sign in again, or open a new link.');
    });
    const link = takeLinkToken();
    const start = async () => {
      try {
        if (link) {
          const opened = await portalApi.exchangeLink(link);
          if (opened.sessionToken) portalSession.keep(opened.sessionToken);
          setSession(opened);
        } else if (portalSession.token()) {
          setSession(await portalApi.session());
        }
      } catch (caught) {
        const error = asApiError(caught);
        setNotice(
          link && error.status === 401
            ? 'This portal link was already used or has expired. Ask for a new one.'
            : error.message,
        );
      } finally {
        setChecking(false);
      }
    };
    start();
  }, []);

  if (checking) return <p class="center muted">Loading…</p>;
  if (!session) {
    return (
      <SignIn
        notice={notice}
        onSession={(opened) => {
          if (opened.sessionToken) portalSession.keep(opened.sessionToken);
          setNotice(null);
          setSession(opened);
          if (readRoute().path.length === 0) location.hash = portalHref(opened.accounts[0]);
        }}
      />
    );
  }
  return (
    <Shell
      session={session}
      onSignOut={async () => {
        await portalApi.logout().catch(() => {});
        portalSession.forget();
        setNotice('Signed out.');
        setSession(null);
      }}
    />
  );
}

render(<Portal />, document.getElementById('root')!);
