import { useEffect, useState } from 'preact/hooks';
import { api, type Message, type MessagePage as MessagePageBody } from '../api';
import { type Column, EmptyState, ErrorNotice, href, LiveNote, StackTable, StatusBadge, Time, usePoll } from '../ui';
import { describeFilter, type Filter, FilterForm, filterFrom, toQuery } from './filters';

export function MessageTable({
  items,
  actions,
  linkOf = (m) => href(`messages/${m.id}`),
  withAccount = true,
}: {
  items: Message[];
  actions?: (m: Message) => preact.ComponentChildren;
  /** Where a message's page is (the portal has its own). */
  linkOf?: (m: Message) => string;
  withAccount?: boolean;
}) {
  const columns: Column<Message>[] = [
    {
      label: 'Message',
      cell: (m) => (
        <a href={linkOf(m)} class="mono">
          {m.id}
        </a>
      ),
    },
    ...(withAccount ? [{ label: 'Account', cell: (m: Message) => m.accountName }] : []),
    { label: 'Service', cell: (m) => m.serviceName },
    {
      label: 'Status',
      cell: (m) => (
        <>
          <StatusBadge status={m.status} />
          {m.reason && m.status !== 'delivered' ? <span class="reason"> {m.reason}</span> : null}
        </>
      ),
    },
    { label: 'Attempts', num: true, cell: (m) => m.attempts },
    { label: 'Created', cell: (m) => <Time iso={m.createdAt} /> },
  ];
  if (actions) columns.push({ label: 'Action', cell: actions });
  return (
    <StackTable
      class="messages"
      columns={columns}
      rows={items}
      rowKey={(m) => m.id}
      rowData={(m) => ({ 'data-message-id': m.id, 'data-status': m.status })}
    />
  );
}

/**
 * Pages through the API's opaque cursors: `cursors` is the trail of pages visited, so "Newer" goes
 * back one step. Every page is asked again on each poll, so statuses change in place.
 */
export function usePagedMessages(
  filter: Filter,
  pollMs?: number,
  /** Reads one page: the admin API's by default (the portal reads its own). */
  load: (filter: Filter, cursor: string | null) => Promise<MessagePageBody> = (f, cursor) =>
    api.messages(toQuery(f), cursor),
) {
  const key = JSON.stringify(filter);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => setCursors([null]), [key]);
  const cursor = cursors.at(-1) ?? null;
  const result = usePoll(() => load(filter, cursor), [key, cursor], pollMs);
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
  const filtered = Object.keys(filter).length > 0;

  return (
    <>
      <h1>Messages</h1>
      <LiveNote updatedAt={paged.updatedAt} what="Newest first; this list" />
      <FilterForm page="messages" filter={filter} services={services} withStatus />
      {error ? <ErrorNotice error={error} action="Check the filter and search values above." /> : null}
      {!loading && data && data.items.length === 0 ? (
        <EmptyState title={filtered ? 'No message matches this filter.' : 'No message yet.'}>
          {filtered ? (
            <p>
              Nothing matches {describeFilter(filter) || 'this filter'}
              {filter.status ? ` with status ${filter.status}` : ''}. Clear the filter, or widen the time range.
            </p>
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
