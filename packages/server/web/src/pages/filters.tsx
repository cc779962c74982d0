import { ACCOUNT_NAME_PATTERN, ACCOUNT_NAME_RULE } from '../../../src/domain/account-name';
import { api, MESSAGE_STATUSES } from '../api';
import { href, usePoll } from '../ui';

export interface Filter {
  accountName?: string;
  serviceName?: string;
  status?: string;
}

export function filterFrom(params: URLSearchParams): Filter {
  return {
    accountName: params.get('accountName') ?? undefined,
    serviceName: params.get('serviceName') ?? undefined,
    status: params.get('status') ?? undefined,
  };
}

/**
 * The account, service (and status) filter. It lives in the location (`#/messages?accountName=…`),
 * so a filtered view can be bookmarked and shared.
 */
export function FilterForm({
  page,
  filter,
  services,
  withStatus,
}: {
  page: string;
  filter: Filter;
  services: string[];
  withStatus: boolean;
}) {
  // Suggestions for the account field: the accounts with a registration, read once.
  const registrations = usePoll(() => api.registrations(), [], 0);
  const accounts = [...new Set((registrations.data?.items ?? []).map((r) => r.accountName))];
  const go = (next: Filter) => {
    location.hash = href(page, { ...next });
  };
  return (
    <form
      class="filters"
      aria-label="Filter messages"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        go({
          accountName: String(data.get('accountName') ?? '').trim() || undefined,
          serviceName: String(data.get('serviceName') ?? '') || undefined,
          status: withStatus ? String(data.get('status') ?? '') || undefined : undefined,
        });
      }}
    >
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
          value={filter.accountName ?? ''}
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
        choices={services}
      />
      {withStatus ? (
        <Choice
          id={`${page}-status`}
          label="Status"
          name="status"
          value={filter.status}
          any="any status"
          choices={MESSAGE_STATUSES}
        />
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

/** A filter drop-down; choosing applies the filter at once. */
function Choice(props: {
  id: string;
  label: string;
  name: string;
  value?: string;
  any: string;
  choices: readonly string[];
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
        {props.choices.map((choice) => (
          <option key={choice} value={choice}>
            {choice}
          </option>
        ))}
      </select>
    </div>
  );
}
