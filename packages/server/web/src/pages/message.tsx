import { useState } from 'preact/hooks';
import { MessageReasons } from '../../../src/domain/reasons';
import { isReplayable } from '../../../src/domain/statuses';
import { ApiError, type Attempt, api, type MessageDetail } from '../api';
import {
  AttemptError,
  EmptyState,
  ErrorNotice,
  href,
  roughDuration,
  StackTable,
  StatusBadge,
  Time,
  usePoll,
} from '../ui';
import { ReplayHistory } from './replay-history';

/** The request of every attempt, as the delivery engine builds it (SPEC §5). */
function SentRequest({ message, userAgent }: { message: MessageDetail; userAgent: string }) {
  const headers: [string, string][] = [
    ['content-type', 'application/json'],
    ['user-agent', userAgent],
    ['webhook-id', message.id],
    ['webhook-timestamp', 'the attempt’s time, in epoch seconds'],
    ['webhook-signature', 'v1,<base64 HMAC-SHA256 of id.timestamp.body> with the registration’s secret'],
    ['ccb-account', message.accountName],
    ['ccb-service', message.serviceName],
  ];
  return (
    <section class="card" aria-labelledby="request-title">
      <h2 id="request-title">What we send</h2>
      <p>
        <code>POST</code> to the registered URL, with these headers. The body is the payload above with{' '}
        <code>username</code> and <code>password</code> (as registered), <code>callbackCount</code> (the attempt’s
        number) and <code>maxCallbackThreshold</code> ({message.maxAttempts}) set.
      </p>
      <table class="compact kv">
        <tbody>
          {headers.map(([name, value]) => (
            <tr key={name}>
              <th scope="row">
                <code>{name}</code>
              </th>
              <td>
                <code>{value}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Every attempt: time, URL, status code, latency, error and the first part of the listener's answer. */
export function AttemptsTable({ attempts }: { attempts: Attempt[] }) {
  return (
    <StackTable
      class="attempts"
      columns={[
        { label: '#', num: true, cell: (a) => a.attemptNumber },
        {
          label: 'Time',
          cell: (a) => (
            <div>
              <Time iso={a.startedAt} />
              <div class="url small muted">{a.url}</div>
            </div>
          ),
        },
        {
          label: 'Status code',
          testId: 'attempt-status',
          cell: (a) => a.statusCode ?? <span class="muted">no response</span>,
        },
        { label: 'Latency', num: true, cell: (a) => roughDuration(a.latencyMs) },
        { label: 'Error', cell: (a) => <AttemptError error={a.error} /> },
        {
          label: 'Response excerpt',
          cell: (a) =>
            a.responseExcerpt ? <pre class="excerpt">{a.responseExcerpt}</pre> : <span class="muted">empty</span>,
        },
      ]}
      rows={attempts}
      rowKey={(a) => a.attemptNumber}
      rowData={(a) => ({ 'data-attempt': a.attemptNumber })}
    />
  );
}

export function MessagePage({ id, userAgent }: { id: string; userAgent: string }) {
  const { data, error, refresh } = usePoll(() => api.message(id), [id]);
  const [replayError, setReplayError] = useState<ApiError | null>(null);
  const [replaying, setReplaying] = useState(false);

  if (error?.status === 404) {
    return (
      <EmptyState title={`Message ${id} does not exist.`}>
        <p>
          It may have been purged after the retention period. <a href={href('messages')}>Back to the messages</a>.
        </p>
      </EmptyState>
    );
  }

  async function replay() {
    setReplaying(true);
    setReplayError(null);
    try {
      await api.replay(id);
      await refresh();
    } catch (caught) {
      setReplayError(caught instanceof ApiError ? caught : new ApiError(0, 'unexpected', String(caught)));
    } finally {
      setReplaying(false);
    }
  }

  return (
    <>
      <p>
        <a href={href('messages')}>← Messages</a>
      </p>
      <h1>
        Message <span class="mono">{id}</span>
      </h1>
      {error ? <ErrorNotice error={error} /> : null}
      {data ? (
        <>
          <section class="card" aria-labelledby="summary-title">
            <h2 id="summary-title" class="visually-hidden">
              Summary
            </h2>
            <dl class="summary">
              <dt>Status</dt>
              <dd data-testid="message-status">
                <StatusBadge status={data.status} />
                {data.reason ? <span class="reason"> {data.reason}</span> : null}
              </dd>
              <dt>Account</dt>
              <dd>
                <a href={href('messages', { accountName: data.accountName })}>{data.accountName}</a>
              </dd>
              <dt>Service</dt>
              <dd>
                <a href={href('messages', { accountName: data.accountName, serviceName: data.serviceName })}>
                  {data.serviceName}
                </a>
              </dd>
              <dt>Attempts</dt>
              <dd>
                {data.attempts} of {data.maxAttempts} allowed
              </dd>
              <dt>Created</dt>
              <dd>
                <Time iso={data.createdAt} />
              </dd>
              {data.deliveredAt ? (
                <>
                  <dt>Delivered</dt>
                  <dd>
                    <Time iso={data.deliveredAt} />
                  </dd>
                </>
              ) : null}
              {data.nextAttemptAt ? (
                <>
                  <dt>Next attempt</dt>
                  <dd>
                    <Time iso={data.nextAttemptAt} />
                  </dd>
                </>
              ) : null}
            </dl>
            {isReplayable(data.status) ? (
              <div class="actions">
                <button type="button" onClick={replay} disabled={replaying}>
                  Replay this message
                </button>
                <span class="muted small">Delivers it again to the URL registered now; callbackCount continues.</span>
              </div>
            ) : null}
            {replayError ? <ErrorNotice error={replayError} /> : null}
            <ReplayHistory id={id} />
          </section>
          <section class="card" aria-labelledby="attempts-title">
            <h2 id="attempts-title">Attempts</h2>
            {data.deliveryAttempts.length === 0 ? (
              <p class="muted">
                {data.reason === MessageReasons.noRegistration
                  ? 'No attempt: the account had no registration for this service. Register one, then replay.'
                  : 'No attempt yet; this page updates by itself.'}
              </p>
            ) : (
              <AttemptsTable attempts={data.deliveryAttempts} />
            )}
          </section>
          <section class="card" aria-labelledby="payload-title">
            <h2 id="payload-title">Payload</h2>
            <pre class="json">{JSON.stringify(data.payload, null, 2)}</pre>
          </section>
          <SentRequest message={data} userAgent={userAgent} />
        </>
      ) : null}
    </>
  );
}
