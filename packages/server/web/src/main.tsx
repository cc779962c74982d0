import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, type Profile, session, setUnauthorizedHandler } from './api';
import { AccountsPage } from './pages/accounts';
import { FailedPage } from './pages/failed';
import { MessagePage } from './pages/message';
import { MessagesPage } from './pages/messages';
import { OverviewPage } from './pages/overview';
import { SignIn } from './pages/sign-in';
import { href, useRoute } from './ui';

const NAV = [
  { path: 'overview', label: 'Overview' },
  { path: 'accounts', label: 'Accounts' },
  { path: 'messages', label: 'Messages' },
  { path: 'failed', label: 'Failed' },
];

function Shell({ profile, onSignOut }: { profile: Profile; onSignOut: () => void }) {
  const route = useRoute();
  const [section = 'overview', id] = route.path;
  let page = <OverviewPage params={route.params} />;
  if (section === 'accounts') page = <AccountsPage services={profile.services} listenerPort={profile.listenerPort} />;
  else if (section === 'messages' && id) page = <MessagePage id={id} userAgent={profile.userAgent} />;
  else if (section === 'messages') page = <MessagesPage params={route.params} services={profile.services} />;
  else if (section === 'failed') page = <FailedPage params={route.params} services={profile.services} />;

  const firstRender = useRef(true);
  useEffect(() => {
    // Moves focus to the new page, so keyboard and screen reader users start at its top.
    if (firstRender.current) firstRender.current = false;
    else document.getElementById('main')?.focus();
    const label = NAV.find((n) => n.path === section)?.label ?? 'Overview';
    document.title = `${id ? `Message ${id}` : label} · Connectivity Callbacks`;
  }, [section, id]);

  return (
    <>
      {/* A button, not a link: the location hash is the page's route. */}
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">
          Connectivity Callbacks <span class="muted">v{profile.version}</span>
        </span>
        <nav aria-label="Dashboard">
          {NAV.map((n) => (
            <a key={n.path} href={href(n.path)} aria-current={section === n.path ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
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

function App() {
  const [profile, setProfile] = useState<Profile | null>(null);
  const [profileError, setProfileError] = useState<ApiError | null>(null);
  const [signedIn, setSignedIn] = useState(session.token() !== null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      session.signOut();
      setSignedIn(false);
      setNotice('The server refused the admin token (it may have restarted with another one). Sign in again.');
    });
    api
      .profile()
      .then(async (loaded) => {
        setProfile(loaded);
        // The dev profile's token is public knowledge; the server offers it only in the dev profile.
        if (!session.token() && loaded.devAdminToken && !session.signedOut()) {
          await api.verify(loaded.devAdminToken);
          session.signIn(loaded.devAdminToken);
          setSignedIn(true);
        }
      })
      .catch((error: unknown) =>
        setProfileError(error instanceof ApiError ? error : new ApiError(0, 'unexpected', String(error))),
      );
  }, []);

  if (profileError) {
    return (
      <main class="center">
        <div class="notice notice-error" role="alert">
          <strong>The dashboard cannot reach its server.</strong>
          <p>{profileError.message} Start it with `npm start` (or `ccb serve`) and reload this page.</p>
        </div>
      </main>
    );
  }
  if (!profile) return <p class="center muted">Loading…</p>;
  if (!signedIn) {
    return (
      <SignIn
        profile={profile}
        notice={notice}
        onSignedIn={(token) => {
          session.signIn(token);
          setNotice(null);
          setSignedIn(true);
        }}
      />
    );
  }
  return (
    <Shell
      profile={profile}
      onSignOut={() => {
        session.signOut();
        setNotice('Signed out. The token was removed from this tab.');
        setSignedIn(false);
      }}
    />
  );
}

render(<App />, document.getElementById('root')!);
