import { useState } from 'preact/hooks';
import { ApiError, api, type Profile } from '../api';

export function SignIn({
  profile,
  notice,
  onSignedIn,
}: {
  profile: Profile;
  notice: string | null;
  onSignedIn: (token: string) => void;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function signIn(candidate: string) {
    setBusy(true);
    setError(null);
    try {
      await api.verify(candidate);
      onSignedIn(candidate);
    } catch (caught) {
      setError(
        caught instanceof ApiError && caught.status === 401
          ? 'That token was refused. Use the value of CCB_ADMIN_TOKEN the server was started with.'
          : caught instanceof Error
            ? caught.message
            : String(caught),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="center">
      <form
        class="card sign-in"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) signIn(token.trim());
        }}
      >
        <h1>Sign in</h1>
        <p>The dashboard uses the admin API. The token stays in this tab only and is removed when you sign out.</p>
        {notice ? (
          <p class="notice" role="status">
            {notice}
          </p>
        ) : null}
        {profile.devAdminToken ? (
          <p class="muted small">
            This server runs the dev profile: its admin token is the documented <code>{profile.devAdminToken}</code>.
          </p>
        ) : (
          <p class="muted small">
            It is the <code>CCB_ADMIN_TOKEN</code> the server was started with.
          </p>
        )}
        <label for="admin-token">Admin token</label>
        <input
          id="admin-token"
          name="admin-token"
          type="password"
          autoComplete="current-password"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-describedby={error ? 'sign-in-error' : undefined}
        />
        {error ? (
          <p id="sign-in-error" class="field-error" role="alert">
            {error}
          </p>
        ) : null}
        <div class="actions">
          <button type="submit" disabled={busy}>
            Sign in
          </button>
          {profile.devAdminToken ? (
            <button type="button" class="secondary" disabled={busy} onClick={() => signIn(profile.devAdminToken!)}>
              Sign in with the dev token
            </button>
          ) : null}
        </div>
      </form>
    </main>
  );
}
