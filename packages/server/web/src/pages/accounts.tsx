import { useState } from 'preact/hooks';
import { ApiError, api, type Registration, type Secret } from '../api';
import { EmptyState, ErrorNotice, href, StackTable, Time, usePoll } from '../ui';
import { DeliveryCell, OperatorEventsCard } from './delivery-settings';

function SecretCell({ registration }: { registration: Registration }) {
  const [secret, setSecret] = useState<Secret | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const label = `${registration.accountName} ${registration.serviceName}`;

  async function run(action: () => Promise<Secret>) {
    setBusy(true);
    setError(null);
    try {
      setSecret(await action());
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, 'unexpected', String(caught)));
    } finally {
      setBusy(false);
    }
  }

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
            onClick={() => run(() => api.secret(registration.accountName, registration.serviceName))}
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
              run(() => api.rotate(registration.accountName, registration.serviceName));
          }}
        >
          Rotate
        </button>
      </div>
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}

export function AccountsPage({ listenerPort }: { listenerPort: number }) {
  const { data, error, loading } = usePoll(() => api.registrations(), [], 10_000);
  const accounts = new Map<string, Registration[]>();
  for (const r of data?.items ?? []) {
    const list = accounts.get(r.accountName) ?? [];
    list.push(r);
    accounts.set(r.accountName, list);
  }

  return (
    <>
      <h1>Accounts and registrations</h1>
      {error ? <ErrorNotice error={error} /> : null}
      {!loading && data && accounts.size === 0 ? (
        <EmptyState title="No registration yet.">
          <p>
            Register a listener URL with{' '}
            <code data-testid="register-example">
              ccb callbacks register 0000123456-00001 CarrierService http://127.0.0.1:{listenerPort}/callbacks
            </code>{' '}
            (start a listener with <code>ccb listen --port {listenerPort}</code>), or through the API:{' '}
            <code>POST /api/m2m/v1/callbacks/&#123;aname&#125;</code>.
          </p>
        </EmptyState>
      ) : null}
      {[...accounts].map(([account, registrations]) => (
        <section key={account} class="card" aria-labelledby={`account-${account}`}>
          <h2 id={`account-${account}`}>
            Account <code>{account}</code>
          </h2>
          <p>
            <a href={href('messages', { accountName: account })}>Messages of this account</a>
          </p>
          <StackTable
            columns={[
              {
                label: 'Service',
                cell: (r) => (
                  <a href={href('messages', { accountName: account, serviceName: r.serviceName })}>{r.serviceName}</a>
                ),
              },
              { label: 'URL', class: 'url', cell: (r) => r.url },
              { label: 'Credentials', cell: (r) => (r.credentialsSet ? 'set' : 'none') },
              { label: 'Updated', cell: (r) => <Time iso={r.updatedAt} /> },
              { label: 'Signing secret', cell: (r) => <SecretCell registration={r} /> },
              { label: 'Delivery', cell: (r) => <DeliveryCell registration={r} /> },
            ]}
            rows={registrations}
            rowKey={(r) => r.serviceName}
            rowData={(r) => ({ 'data-service': r.serviceName })}
          />
        </section>
      ))}
      <OperatorEventsCard />
    </>
  );
}
