import { useEffect, useState } from 'preact/hooks';
import { api, type Message } from '../api';
import { EmptyState, ErrorNotice, href, LiveNote, StatusBadge, Time, usePoll } from '../ui';
import { type Filter, FilterForm, filterFrom } from './filters';

export function MessageTable({
  items,
  actions,
}: {
  items: Message[];
  actions?: (m: Message) => preact.ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table class="stack messages">
        <thead>
          <tr>
            <th scope="col">Message</th>
            <th scope="col">Account</th>
            <th scope="col">Service</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col">Created</th>
            {actions ? <th scope="col">Action</th> : null}
          </tr>
        </thead>
        <tbody>
          {items.map((m) => (
            <tr key={m.id} data-message-id={m.id} data-status={m.status}>
              <td data-label="Message">
                <a href={href(`messages/${m.id}`)} class="mono">
                  {m.id}
                </a>
              </td>
              <td data-label="Account">{m.accountName}</td>
              <td data-label="Service">{m.serviceName}</td>
              <td data-label="Status">
                <StatusBadge status={m.status} />
                {m.reason && m.status !== 'delivered' ? <span class="reason"> {m.reason}</span> : null}
              </td>
              <td data-label="Attempts" class="num">
                {m.attempts}
              </td>
              <td data-label="Created">
                <Time iso={m.createdAt} />
              </td>
              {actions ? <td data-label="Action">{actions(m)}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * Pages through the API's opaque cursors: `cursors` is the trail of pages visited, so "Newer" goes
 * back one step. Every page is asked again on each poll, so statuses change in place.
 */
export function usePagedMessages(filter: Filter, pollMs?: number) {
  const key = JSON.stringify(filter);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => setCursors([null]), [key]);
  const cursor = cursors.at(-1) ?? null;
  const result = usePoll(() => api.messages(filter, cursor), [key, cursor], pollMs);
  return {
    ...result,
    first: cursors.length === 1,
    older: () => result.data?.nextCursor && setCursors([...cursors, result.data.nextCursor]),
    newer: () => setCursors(cursors.slice(0, -1)),
    newest: () => setCursors([null]),
  };
}

export function Pager({ paged }: { paged: ReturnType<typeof usePagedMessages> }) {
  if (paged.first && !paged.data?.nextCursor) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="secondary" disabled={paged.first} onClick={paged.newest}>
        Newest
      </button>
      <button type="button" class="secondary" disabled={paged.first} onClick={paged.newer}>
        ← Newer
      </button>
      <button type="button" class="secondary" disabled={!paged.data?.nextCursor} onClick={paged.older}>
        Older →
      </button>
    </nav>
  );
}

export function MessagesPage({ params, services }: { params: URLSearchParams; services: string[] }) {
  const filter = filterFrom(params);
  const paged = usePagedMessages(filter);
  const { data, error, loading } = paged;
  const filtered = Boolean(filter.accountName || filter.serviceName || filter.status);

  return (
    <>
      <h1>Messages</h1>
      <LiveNote updatedAt={paged.updatedAt} what="Newest first; this list" />
      <FilterForm page="messages" filter={filter} services={services} withStatus />
      {error ? <ErrorNotice error={error} action="Check the filter values above." /> : null}
      {!loading && data && data.items.length === 0 ? (
        <EmptyState title={filtered ? 'No message matches this filter.' : 'No message yet.'}>
          {filtered ? (
            <p>Clear the filter, or publish one that matches.</p>
          ) : (
            <p>
              Publish one with{' '}
              <code>ccb publish 0000123456-00001 CarrierService --data '{'{"status":"Success"}'}'</code> or many with{' '}
              <code>ccb simulate --account 0000123456-00001 --count 20</code>.
            </p>
          )}
        </EmptyState>
      ) : null}
      {data && data.items.length > 0 ? (
        <>
          <MessageTable items={data.items} />
          <Pager paged={paged} />
        </>
      ) : null}
    </>
  );
}
