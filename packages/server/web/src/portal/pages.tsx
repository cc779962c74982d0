import { useState } from 'preact/hooks';
import { isReplayable, MESSAGE_STATUSES, type Message } from '../api';
import { type ApiError, asApiError } from '../http';
import { JobProgress } from '../pages/failed';
import { AttemptsTable } from '../pages/message';
import { MessageTable, Pager, usePagedMessages } from '../pages/messages';
import {
  Disclosure,
  RegistrationActions,
  type RegistrationCalls,
  RegistrationForm,
  SecretCell,
} from '../registrations';
import { EmptyState, ErrorNotice, LiveNote, StackTable, StatusBadge, Time, usePoll } from '../ui';
import { type PortalRegistration, type PortalSession, portalApi } from './api';

/** `#/a/{account}[/messages/{id}][?filter]`: the portal's own locations. */
export function portalHref(account: string, rest = '', params: Record<string, string | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return `#/a/${encodeURIComponent(account)}${rest}${text ? `?${text}` : ''}`;
}

function callsFor(account: string): RegistrationCalls {
  return {
    put: portalApi.put,
    remove: portalApi.remove,
    test: portalApi.test,
    secret: portalApi.secret,
    rotate: portalApi.rotate,
    messageHref: (id) => portalHref(account, `/messages/${encodeURIComponent(id)}`),
    keepsCredentials: false,
  };
}

/** The endpoint's health as the server reports it (GET …/settings), or "not known yet". */
function Health({ health }: { health: unknown }) {
  if (health === null || health === undefined || typeof health !== 'object')
    return <span class="muted">not known yet</span>;
  return (
    <dl class="health small">
      {Object.entries(health as Record<string, unknown>).map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>{value === null ? '—' : typeof value === 'object' ? JSON.stringify(value) : String(value)}</dd>
        </div>
      ))}
    </dl>
  );
}

function Registrations({ session, account }: { session: PortalSession; account: string }) {
  const { data, error, loading, refresh } = usePoll(() => portalApi.registrations(account), [account], 10_000);
  const calls = callsFor(account);
  return (
    <section class="card" aria-labelledby="registrations-title">
      <h2 id="registrations-title">Listeners</h2>
      {error ? <ErrorNotice error={error} /> : null}
      <Disclosure label="Register a listener">
        {(close) => (
          <RegistrationForm
            calls={calls}
            accounts={[account]}
            services={session.services}
            onDone={() => {
              close();
              refresh();
            }}
            onCancel={close}
          />
        )}
      </Disclosure>
      {!loading && data && data.items.length === 0 ? (
        <EmptyState title="No listener registered yet.">
          <p>Register the URL where your callbacks should be delivered.</p>
        </EmptyState>
      ) : null}
      {data && data.items.length > 0 ? (
        <StackTable<PortalRegistration>
          columns={[
            { label: 'Service', cell: (r) => r.serviceName },
            { label: 'URL', class: 'url', cell: (r) => r.url },
            { label: 'Credentials', cell: (r) => (r.credentialsSet ? 'set' : 'none') },
            { label: 'Health', cell: (r) => <Health health={r.health} /> },
            { label: 'Updated', cell: (r) => <Time iso={r.updatedAt} /> },
            { label: 'Signing secret', cell: (r) => <SecretCell calls={calls} registration={r} /> },
            {
              label: 'Actions',
              cell: (r) => (
                <RegistrationActions calls={calls} registration={r} services={session.services} onChanged={refresh} />
              ),
            },
          ]}
          rows={data.items}
          rowKey={(r) => r.serviceName}
          rowData={(r) => ({ 'data-service': r.serviceName })}
        />
      ) : null}
    </section>
  );
}

function ReplayButton({ account, message, onDone }: { account: string; message: Message; onDone(): void }) {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <button
        type="button"
        class="secondary"
        disabled={busy}
        aria-label={`Replay ${message.id}`}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            await portalApi.replay(account, message.id);
            onDone();
          } catch (caught) {
            setError(asApiError(caught));
          } finally {
            setBusy(false);
          }
        }}
      >
        Replay
      </button>
      {error ? <ErrorNotice error={error} /> : null}
    </>
  );
}

function Messages({ session, account, params }: { session: PortalSession; account: string; params: URLSearchParams }) {
  const filter = { serviceName: params.get('serviceName') ?? undefined, status: params.get('status') ?? undefined };
  const paged = usePagedMessages({ ...filter, accountName: account }, undefined, (f, cursor) =>
    portalApi.messages(account, { serviceName: f.serviceName, status: f.status }, cursor),
  );
  const { data, error, loading, refresh } = paged;
  const [jobId, setJobId] = useState<string | null>(null);
  const [bulkError, setBulkError] = useState<ApiError | null>(null);
  const go = (next: Record<string, string | undefined>) => {
    location.hash = portalHref(account, '', { ...filter, ...next });
  };
  return (
    <section class="card" aria-labelledby="messages-title">
      <h2 id="messages-title">Messages</h2>
      <LiveNote updatedAt={paged.updatedAt} what="Newest first; this list" />
      <form class="filters" aria-label="Filter messages" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="portal-service">Service</label>
          <select
            id="portal-service"
            value={filter.serviceName ?? ''}
            onChange={(e) => go({ serviceName: e.currentTarget.value || undefined })}
          >
            <option value="">any service</option>
            {session.services.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="portal-status">Status</label>
          <select
            id="portal-status"
            value={filter.status ?? ''}
            onChange={(e) => go({ status: e.currentTarget.value || undefined })}
          >
            <option value="">any status</option>
            {MESSAGE_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field field-actions">
          <button
            type="button"
            onClick={async () => {
              const what = filter.serviceName ? `of ${filter.serviceName}` : 'of this account';
              if (!confirm(`Replay every failed message ${what}? They are delivered again to the URLs registered now.`))
                return;
              setBulkError(null);
              try {
                setJobId((await portalApi.replayFailed(account, filter.serviceName)).jobId);
              } catch (caught) {
                setBulkError(asApiError(caught));
              }
            }}
          >
            Replay all failed{filter.serviceName ? ` of ${filter.serviceName}` : ''}
          </button>
        </div>
      </form>
      {bulkError ? <ErrorNotice error={bulkError} /> : null}
      {jobId ? (
        <JobProgress key={jobId} jobId={jobId} onFinished={refresh} load={(id) => portalApi.replayJob(account, id)} />
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
      {!loading && data && data.items.length === 0 ? (
        <EmptyState title="No message yet.">
          <p>Send a test message to a listener above, or change the filter.</p>
        </EmptyState>
      ) : null}
      {data && data.items.length > 0 ? (
        <>
          <MessageTable
            items={data.items}
            withAccount={false}
            linkOf={(m) => portalHref(account, `/messages/${encodeURIComponent(m.id)}`)}
            actions={(m) =>
              m.status === 'failed' ? <ReplayButton account={account} message={m} onDone={refresh} /> : null
            }
          />
          <Pager paged={paged} />
        </>
      ) : null}
    </section>
  );
}

export function AccountPage({
  session,
  account,
  params,
}: {
  session: PortalSession;
  account: string;
  params: URLSearchParams;
}) {
  return (
    <>
      <h1>
        Callbacks of account <code>{account}</code>
      </h1>
      <Registrations session={session} account={account} />
      <Messages session={session} account={account} params={params} />
    </>
  );
}

export function MessageView({ account, id }: { account: string; id: string }) {
  const { data, error, refresh } = usePoll(() => portalApi.message(account, id), [account, id]);
  const [replayError, setReplayError] = useState<ApiError | null>(null);
  const back = (
    <p>
      <a href={portalHref(account)}>← Account {account}</a>
    </p>
  );
  if (error?.status === 404) {
    return (
      <>
        {back}
        <EmptyState title={`Message ${id} does not exist in this account.`} />
      </>
    );
  }
  return (
    <>
      {back}
      <h1>
        Message <span class="mono">{id}</span>
      </h1>
      {error ? <ErrorNotice error={error} /> : null}
      {data ? (
        <>
          <section class="card" aria-label="Summary">
            <dl class="summary">
              <dt>Status</dt>
              <dd data-testid="message-status">
                <StatusBadge status={data.status} />
                {data.reason ? <span class="reason"> {data.reason}</span> : null}
              </dd>
              <dt>Service</dt>
              <dd>{data.serviceName}</dd>
              <dt>Attempts</dt>
              <dd>
                {data.attempts} of {data.maxAttempts}
              </dd>
              <dt>Created</dt>
              <dd>
                <Time iso={data.createdAt} />
              </dd>
            </dl>
            {isReplayable(data.status) ? (
              <div class="actions">
                <button
                  type="button"
                  onClick={async () => {
                    setReplayError(null);
                    try {
                      await portalApi.replay(account, id);
                      await refresh();
                    } catch (caught) {
                      setReplayError(asApiError(caught));
                    }
                  }}
                >
                  Replay this message
                </button>
              </div>
            ) : null}
            {replayError ? <ErrorNotice error={replayError} /> : null}
          </section>
          <section class="card" aria-labelledby="attempts-title">
            <h2 id="attempts-title">Attempts and your listener's answers</h2>
            {data.deliveryAttempts.length === 0 ? (
              <p class="muted">No attempt yet; this page updates by itself.</p>
            ) : (
              <AttemptsTable attempts={data.deliveryAttempts} />
            )}
          </section>
          <section class="card" aria-labelledby="payload-title">
            <h2 id="payload-title">Payload</h2>
            <pre class="json">{JSON.stringify(data.payload, null, 2)}</pre>
          </section>
        </>
      ) : null}
    </>
  );
}
