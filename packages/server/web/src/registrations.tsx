/**
 * A listener's controls, shared by the dashboard's accounts page and the portal: register or change
 * (URL and credentials), remove, send a test message, and the signing secret with rotate. Each page
 * hands in the calls of its own API (`RegistrationCalls`).
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Published, Registration, RegistrationChange, Secret } from './api';
import { type ApiError, asApiError } from './http';
import { ErrorNotice, Time } from './ui';

export interface RegistrationCalls {
  put(accountName: string, serviceName: string, change: RegistrationChange): Promise<unknown>;
  remove(accountName: string, serviceName: string): Promise<unknown>;
  test(accountName: string, serviceName: string): Promise<Published>;
  secret(accountName: string, serviceName: string): Promise<Secret>;
  rotate(accountName: string, serviceName: string): Promise<Secret>;
  /** Where a message's page is. */
  messageHref(id: string): string;
  /**
   * Whether `put` keeps the credentials it is not given (the admin API) or replaces them with none
   * (the portal, as the platform's register call does).
   */
  keepsCredentials: boolean;
}

/** Runs one call at a time, keeping its error. */
function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (caught) {
      setError(asApiError(caught));
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run };
}

const CREDENTIAL_RULE = 'At most 40 printable characters';

/**
 * Registers a listener (account and service chosen here), or changes one (`existing`): URL and
 * credentials. For a change, credentials are kept unless new ones are typed or "Remove the
 * credentials" is ticked.
 */
export function RegistrationForm({
  calls,
  accounts,
  services,
  existing,
  onDone,
  onCancel,
}: {
  calls: RegistrationCalls;
  /** The accounts to choose from; free text when empty (the dashboard). */
  accounts: string[];
  services: string[];
  existing?: Registration;
  onDone(): void;
  onCancel?(): void;
}) {
  const { busy, error, run } = useAction();
  const id = existing ? `edit-${existing.accountName}-${existing.serviceName}` : 'new-registration';
  return (
    <form
      class="registration-form filters"
      aria-label={existing ? `Change ${existing.serviceName} of ${existing.accountName}` : 'Register a listener'}
      onSubmit={async (e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        const text = (key: string) => String(data.get(key) ?? '').trim();
        const accountName = existing?.accountName ?? text('accountName');
        const serviceName = existing?.serviceName ?? text('serviceName');
        const change: RegistrationChange = { url: text('url') };
        if (!calls.keepsCredentials) {
          change.username = text('username') || null;
          change.password = String(data.get('password') ?? '') || null;
        } else if (data.get('clear') === 'on') {
          change.username = null;
          change.password = null;
        } else {
          if (text('username')) change.username = text('username');
          if (text('password')) change.password = String(data.get('password'));
        }
        const done = await run(() => calls.put(accountName, serviceName, change));
        if (done !== undefined) onDone();
      }}
    >
      {existing ? null : (
        <>
          <div class="field">
            <label for={`${id}-account`}>Account</label>
            {accounts.length > 0 ? (
              <select id={`${id}-account`} name="accountName" required>
                {accounts.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={`${id}-account`}
                name="accountName"
                required
                autoComplete="off"
                placeholder="0000123456-00001"
              />
            )}
          </div>
          <div class="field">
            <label for={`${id}-service`}>Service</label>
            <select id={`${id}-service`} name="serviceName" required>
              {services.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
        </>
      )}
      <div class="field field-wide">
        <label for={`${id}-url`}>Listener URL</label>
        <input
          id={`${id}-url`}
          name="url"
          type="url"
          required
          autoComplete="off"
          placeholder="https://listener.example.com/callbacks"
          value={existing?.url ?? ''}
        />
      </div>
      <div class="field">
        <label for={`${id}-username`}>
          Username{existing?.credentialsSet && calls.keepsCredentials ? ' (new)' : ''}
        </label>
        <input id={`${id}-username`} name="username" maxLength={40} autoComplete="off" title={CREDENTIAL_RULE} />
      </div>
      <div class="field">
        <label for={`${id}-password`}>
          Password{existing?.credentialsSet && calls.keepsCredentials ? ' (new)' : ''}
        </label>
        <input
          id={`${id}-password`}
          name="password"
          type="password"
          maxLength={40}
          autoComplete="new-password"
          title={CREDENTIAL_RULE}
        />
      </div>
      {existing?.credentialsSet && !calls.keepsCredentials ? (
        <p class="muted small">
          Saving replaces the credentials: type them again to keep them, or leave both empty for none.
        </p>
      ) : null}
      {existing?.credentialsSet && calls.keepsCredentials ? (
        <div class="field checkbox">
          <label>
            <input type="checkbox" name="clear" /> Remove the credentials
          </label>
          <span class="muted small">Left empty, the credentials set now are kept.</span>
        </div>
      ) : null}
      <div class="field field-actions">
        <button type="submit" disabled={busy}>
          {existing ? 'Save' : 'Register'}
        </button>
        {onCancel ? (
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        ) : null}
      </div>
      {error ? <ErrorNotice error={error} action="Correct the values above and try again." /> : null}
    </form>
  );
}

/** Send test message, Change, Remove and the signing secret of one registration. */
export function RegistrationActions({
  calls,
  registration,
  services,
  onChanged,
}: {
  calls: RegistrationCalls;
  registration: Registration;
  services: string[];
  onChanged(): void;
}) {
  const { busy, error, run } = useAction();
  const [editing, setEditing] = useState(false);
  const [sent, setSent] = useState<Published | null>(null);
  const { accountName, serviceName } = registration;
  const label = `${accountName} ${serviceName}`;
  if (editing) {
    return (
      <RegistrationForm
        calls={calls}
        accounts={[]}
        services={services}
        existing={registration}
        onDone={() => {
          setEditing(false);
          onChanged();
        }}
        onCancel={() => setEditing(false)}
      />
    );
  }
  return (
    <div class="registration-actions">
      <div class="actions">
        <button
          type="button"
          class="secondary"
          disabled={busy}
          aria-label={`Send a test message to ${label}`}
          onClick={async () => {
            const published = await run(() => calls.test(accountName, serviceName));
            if (published) setSent(published);
          }}
        >
          Send test message
        </button>
        <button type="button" class="secondary" aria-label={`Change ${label}`} onClick={() => setEditing(true)}>
          Change
        </button>
        <button
          type="button"
          class="secondary danger"
          disabled={busy}
          aria-label={`Remove ${label}`}
          onClick={async () => {
            if (!confirm(`Remove the listener of ${label}? Its undelivered messages are cancelled.`)) return;
            if ((await run(() => calls.remove(accountName, serviceName))) !== undefined) onChanged();
          }}
        >
          Remove
        </button>
      </div>
      {sent ? (
        <p class="small" role="status" data-testid="test-message">
          Test message <a href={calls.messageHref(sent.messageId)}>{sent.messageId}</a> published ({sent.status}).
        </p>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}

/** The signing secret, shown on request, with Rotate. */
export function SecretCell({ calls, registration }: { calls: RegistrationCalls; registration: Registration }) {
  const [secret, setSecret] = useState<Secret | null>(null);
  const { busy, error, run } = useAction();
  const label = `${registration.accountName} ${registration.serviceName}`;
  const show = async (action: () => Promise<Secret>) => {
    const value = await run(action);
    if (value) setSecret(value);
  };

  return (
    <div class="secret">
      {secret ? (
        <>
          <p class="secret-line">
            <span class="visually-hidden">Signing secret of {label}: </span>
            <code class="secret-value">{secret.secret}</code>
          </p>
          {secret.previousSecret ? (
            <p class="muted small">
              The previous secret still signs until <Time iso={secret.previousSecretExpiresAt ?? null} />.
            </p>
          ) : null}
        </>
      ) : null}
      <div class="actions">
        {secret ? (
          <button type="button" class="secondary" onClick={() => setSecret(null)}>
            Hide secret
          </button>
        ) : (
          <button
            type="button"
            class="secondary"
            disabled={busy}
            aria-label={`Show signing secret of ${label}`}
            onClick={() => show(() => calls.secret(registration.accountName, registration.serviceName))}
          >
            Show secret
          </button>
        )}
        <button
          type="button"
          class="secondary"
          disabled={busy}
          aria-label={`Rotate signing secret of ${label}`}
          onClick={() => {
            if (
              confirm(
                `Rotate the signing secret of ${label}? The old one keeps signing for 24 hours, so the listener can switch over.`,
              )
            )
              show(() => calls.rotate(registration.accountName, registration.serviceName));
          }}
        >
          Rotate
        </button>
      </div>
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}

/** A collapsible section opened by a button (the "Register a listener" form). */
export function Disclosure({ label, children }: { label: string; children(close: () => void): ComponentChildren }) {
  const [open, setOpen] = useState(false);
  return open ? (
    <div class="card">{children(() => setOpen(false))}</div>
  ) : (
    <div class="actions">
      <button type="button" onClick={() => setOpen(true)}>
        {label}
      </button>
    </div>
  );
}
