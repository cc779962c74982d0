import { api, type Registration } from '../api';
import {
  Disclosure,
  RegistrationActions,
  type RegistrationCalls,
  RegistrationForm,
  SecretCell,
} from '../registrations';
import { EmptyState, ErrorNotice, href, StackTable, Time, usePoll } from '../ui';
import { DeliveryCell, OperatorEventsCard } from './delivery-settings';

/** The admin API's registration calls, for the shared controls. */
const adminCalls: RegistrationCalls = {
  put: api.putRegistration,
  remove: api.removeRegistration,
  test: api.testMessage,
  secret: api.secret,
  rotate: api.rotate,
  messageHref: (id) => href(`messages/${id}`),
  keepsCredentials: true,
};

export function AccountsPage({ services, listenerPort }: { services: string[]; listenerPort: number }) {
  const { data, error, loading, refresh } = usePoll(() => api.registrations(), [], 10_000);
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
      <Disclosure label="Register a listener">
        {(close) => (
          <RegistrationForm
            calls={adminCalls}
            accounts={[]}
            services={services}
            onDone={() => {
              close();
              refresh();
            }}
            onCancel={close}
          />
        )}
      </Disclosure>
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
              { label: 'Signing secret', cell: (r) => <SecretCell calls={adminCalls} registration={r} /> },
              { label: 'Delivery', cell: (r) => <DeliveryCell registration={r} /> },
              {
                label: 'Actions',
                cell: (r) => (
                  <RegistrationActions calls={adminCalls} registration={r} services={services} onChanged={refresh} />
                ),
              },
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
