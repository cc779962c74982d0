import { ACCOUNT_NAME_PATTERN, ACCOUNT_NAME_RULE } from '../../../src/domain/account-name';
import { api, MESSAGE_STATUSES, type MessageFilter, REASON_KINDS } from '../api';
import { href, usePoll } from '../ui';

/**
 * A filter as the location holds it (`#/messages?accountName=…&range=1h`): text, so a filtered view
 * can be bookmarked. `range` is relative (the last hour, counted from each request); `since` and
 * `until` are absolute (ISO 8601).
 */
export interface Filter {
  accountName?: string;
  serviceName?: string;
  status?: string;
  reason?: string;
  range?: string;
  since?: string;
  until?: string;
  q?: string;
}

const KEYS = ['accountName', 'serviceName', 'status', 'reason', 'range', 'since', 'until', 'q'] as const;

/** The time ranges offered, relative to now. */
export const RANGES: { value: string; label: string; ms: number }[] = [
  { value: '15m', label: 'last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'last hour', ms: 3_600_000 },
  { value: '6h', label: 'last 6 hours', ms: 6 * 3_600_000 },
  { value: '24h', label: 'last 24 hours', ms: 24 * 3_600_000 },
  { value: '7d', label: 'last 7 days', ms: 7 * 24 * 3_600_000 },
];
const CUSTOM = 'custom';

export function filterFrom(params: URLSearchParams): Filter {
  const filter: Filter = {};
  for (const key of KEYS) {
    const value = params.get(key);
    if (value) filter[key] = value;
  }
  return filter;
}

/** The API's filter for this one request: a relative range becomes `since` from now. */
export function toQuery(filter: Filter, now: number = Date.now()): MessageFilter {
  const { range, ...rest } = filter;
  const relative = RANGES.find((r) => r.value === range);
  const since = relative ? new Date(now - relative.ms).toISOString() : range === CUSTOM ? rest.since : undefined;
  const until = range === CUSTOM ? rest.until : undefined;
  // The values come from the location; the server checks them and says what is wrong.
  return { ...rest, since, until } as MessageFilter;
}

/** The filter in words, for headings and confirmations ("account A, reason timeout, last hour"). */
export function describeFilter(filter: Filter): string {
  const range = RANGES.find((r) => r.value === filter.range)?.label;
  return [
    filter.accountName && `account ${filter.accountName}`,
    filter.serviceName && `service ${filter.serviceName}`,
    filter.reason && `reason ${filter.reason}`,
    range,
    filter.range === CUSTOM && filter.since && `from ${filter.since}`,
    filter.range === CUSTOM && filter.until && `until ${filter.until}`,
    filter.q && `matching ${filter.q}`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** `datetime-local` values are the browser's local time without a zone; the location keeps ISO 8601. */
const toLocalInput = (iso?: string) => {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};
const fromLocalInput = (value: string) => (value ? new Date(value).toISOString() : undefined);

/**
 * The filter form: account, service, status (on the messages page), failure reason, time range and
 * search (a message id, or `field=value` in the payload). It lives in the location, so a filtered
 * view can be bookmarked and shared.
 */
export function FilterForm({
  page,
  filter,
  services,
  withStatus,
  withSearch = withStatus,
}: {
  page: string;
  filter: Filter;
  services: string[];
  withStatus: boolean;
  /** The bulk replay takes no search, so the failed page offers none. */
  withSearch?: boolean;
}) {
  // Suggestions for the account field: the accounts with a registration, read once.
  const registrations = usePoll(() => api.registrations(), [], 0);
  const accounts = [...new Set((registrations.data?.items ?? []).map((r) => r.accountName))];
  const go = (next: Filter) => {
    location.hash = href(page, { ...next });
  };
  const text = (data: FormData, key: string) => String(data.get(key) ?? '').trim() || undefined;
  return (
    <form
      // Its fields are uncontrolled (defaultValue, so a re-render while the page polls never wipes what
      // is being typed): a new filter in the address (a link, a bookmark, a plain #/messages) builds
      // the form anew, so no field keeps a value from the filter before.
      key={href(page, { ...filter })}
      class="filters"
      aria-label="Filter messages"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        const range = text(data, 'range');
        go({
          accountName: text(data, 'accountName'),
          serviceName: text(data, 'serviceName'),
          status: withStatus ? text(data, 'status') : undefined,
          reason: text(data, 'reason'),
          range,
          since: range === CUSTOM ? fromLocalInput(String(data.get('since') ?? '')) : undefined,
          until: range === CUSTOM ? fromLocalInput(String(data.get('until') ?? '')) : undefined,
          q: withSearch ? text(data, 'q') : undefined,
        });
      }}
    >
      {withSearch ? (
        <div class="field field-wide">
          <label for={`${page}-q`}>Find</label>
          <input
            id={`${page}-q`}
            name="q"
            type="search"
            placeholder="msg_… or requestId=…"
            autoComplete="off"
            aria-describedby={`${page}-q-help`}
            defaultValue={filter.q ?? ''}
          />
          <span id={`${page}-q-help`} class="muted small">
            A message id, or <code>field=value</code> of the payload.
          </span>
        </div>
      ) : null}
      <div class="field">
        <label for={`${page}-account`}>Account</label>
        <input
          id={`${page}-account`}
          name="accountName"
          placeholder="any account"
          list={`${page}-accounts`}
          autoComplete="off"
          pattern={ACCOUNT_NAME_PATTERN}
          title={ACCOUNT_NAME_RULE}
          defaultValue={filter.accountName ?? ''}
        />
        <datalist id={`${page}-accounts`}>
          {accounts.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
      </div>
      <Choice
        id={`${page}-service`}
        label="Service"
        name="serviceName"
        value={filter.serviceName}
        any="any service"
        choices={services.map((s) => [s, s])}
      />
      {withStatus ? (
        <Choice
          id={`${page}-status`}
          label="Status"
          name="status"
          value={filter.status}
          any="any status"
          choices={MESSAGE_STATUSES.map((s) => [s, s])}
        />
      ) : null}
      <Choice
        id={`${page}-reason`}
        label="Reason"
        name="reason"
        value={filter.reason}
        any="any reason"
        choices={REASON_KINDS.map((r) => [r, r])}
      />
      <Choice
        id={`${page}-range`}
        label="Created"
        name="range"
        value={filter.range}
        any="any time"
        choices={[...RANGES.map((r): [string, string] => [r.value, r.label]), [CUSTOM, 'between…']]}
      />
      {filter.range === CUSTOM ? (
        <>
          <div class="field">
            <label for={`${page}-since`}>From</label>
            <input id={`${page}-since`} name="since" type="datetime-local" defaultValue={toLocalInput(filter.since)} />
          </div>
          <div class="field">
            <label for={`${page}-until`}>Until</label>
            <input id={`${page}-until`} name="until" type="datetime-local" defaultValue={toLocalInput(filter.until)} />
          </div>
        </>
      ) : null}
      <div class="field field-actions">
        <button type="submit">Apply</button>
        <button type="button" class="secondary" onClick={() => go({})}>
          Clear
        </button>
      </div>
    </form>
  );
}

/** A filter drop-down of [value, label] choices; choosing applies the filter at once. */
function Choice(props: {
  id: string;
  label: string;
  name: string;
  value?: string;
  any: string;
  choices: readonly (readonly [string, string])[];
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <select
        id={props.id}
        name={props.name}
        value={props.value ?? ''}
        onChange={(e) => e.currentTarget.form?.requestSubmit()}
      >
        <option value="">{props.any}</option>
        {props.choices.map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
    </div>
  );
}
