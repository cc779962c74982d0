/**
 * A registration's delivery settings and endpoint health (docs/delivery-controls.md), and the recent
 * operator events: the accounts page shows them under each registration and below the accounts.
 * The shapes are the admin API's own (domain/delivery-controls.ts).
 */
import { useState } from 'preact/hooks';
import type {
  OperatorEventEntry as OperatorEventView,
  RegistrationHealthView,
  ControlSettings as SettingsView,
} from '../../../src/domain/delivery-controls';
import { ApiError, controlsApi, type Registration } from '../api';
import { ErrorNotice, StatusBadge, Time, usePoll } from '../ui';

type RateUnit = 'none' | 'perSecond' | 'perMinute';

/** The form's values, as text where the person types. */
interface Draft {
  fifo: boolean;
  rateUnit: RateUnit;
  rate: string;
  autoDisable: boolean;
  after: string;
  warnAfter: string;
  enabled: boolean;
}

function draftOf(settings: SettingsView): Draft {
  const rate = settings.rateLimit;
  return {
    fifo: settings.ordering === 'fifo',
    rateUnit: rate === null ? 'none' : 'perSecond' in rate ? 'perSecond' : 'perMinute',
    rate: rate === null ? '5' : String('perSecond' in rate ? rate.perSecond : rate.perMinute),
    autoDisable: settings.autoDisable !== null,
    after: settings.autoDisable?.after ?? '5d',
    warnAfter: settings.autoDisable?.warnAfter ?? '1d',
    enabled: settings.enabled,
  };
}

/** The whole settings body from the form; the server says what is wrong with a value. */
function settingsOf(draft: Draft): SettingsView {
  const count = Number(draft.rate);
  return {
    ordering: draft.fifo ? 'fifo' : 'none',
    rateLimit:
      draft.rateUnit === 'none' ? null : draft.rateUnit === 'perSecond' ? { perSecond: count } : { perMinute: count },
    autoDisable: draft.autoDisable ? { after: draft.after.trim(), warnAfter: draft.warnAfter.trim() } : null,
    enabled: draft.enabled,
  };
}

function HealthLine({ view }: { view: RegistrationHealthView }) {
  const { health, settings } = view;
  const ratio = health.recentSuccessRatio;
  return (
    <p class="small" data-testid="health">
      {!settings.enabled ? <strong>Disabled. </strong> : null}
      {health.consecutiveFailures > 0 ? (
        <>
          {health.consecutiveFailures} failed in a row since <Time iso={health.failingSince} />.{' '}
        </>
      ) : null}
      Last success: {health.lastSuccessAt ? <Time iso={health.lastSuccessAt} /> : 'never'}.{' '}
      {ratio === null
        ? 'No attempts yet.'
        : `${Math.round(ratio * 100)}% of the last ${health.recentAttempts} attempts succeeded.`}
    </p>
  );
}

function SettingsForm({
  view,
  onSaved,
}: {
  view: RegistrationHealthView;
  onSaved(view: RegistrationHealthView): void;
}) {
  const [draft, setDraft] = useState<Draft>(draftOf(view.settings));
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const set = (change: Partial<Draft>) => {
    setSaved(false);
    setDraft({ ...draft, ...change });
  };
  const id = `${view.accountName}-${view.serviceName}`;

  async function save(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await controlsApi.changeSettings(view.accountName, view.serviceName, settingsOf(draft));
      onSaved(await controlsApi.registration(view.accountName, view.serviceName));
      setSaved(true);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, 'unexpected', String(caught)));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      class="delivery-settings"
      onSubmit={save}
      aria-label={`Delivery settings of ${view.accountName} ${view.serviceName}`}
    >
      <label>
        <input
          type="checkbox"
          name="fifo"
          checked={draft.fifo}
          onChange={(e) => set({ fifo: e.currentTarget.checked })}
        />{' '}
        FIFO: one message at a time, in publish order
      </label>
      <div class="field">
        <label for={`rate-${id}`}>Rate limit</label>
        <span>
          <input
            id={`rate-${id}`}
            name="rate"
            type="number"
            min={1}
            size={6}
            disabled={draft.rateUnit === 'none'}
            value={draft.rate}
            onInput={(e) => set({ rate: e.currentTarget.value })}
          />{' '}
          <select
            name="rateUnit"
            aria-label="Rate limit unit"
            value={draft.rateUnit}
            onChange={(e) => set({ rateUnit: e.currentTarget.value as RateUnit })}
          >
            <option value="none">no limit</option>
            <option value="perSecond">per second</option>
            <option value="perMinute">per minute</option>
          </select>
        </span>
      </div>
      <label>
        <input
          type="checkbox"
          name="autoDisable"
          checked={draft.autoDisable}
          onChange={(e) => set({ autoDisable: e.currentTarget.checked })}
        />{' '}
        Auto-disable a failing listener
      </label>
      {draft.autoDisable ? (
        <div class="field">
          <span>
            <label for={`warn-${id}`}>warn after</label>{' '}
            <input
              id={`warn-${id}`}
              name="warnAfter"
              size={6}
              value={draft.warnAfter}
              onInput={(e) => set({ warnAfter: e.currentTarget.value })}
            />{' '}
            <label for={`after-${id}`}>disable after</label>{' '}
            <input
              id={`after-${id}`}
              name="after"
              size={6}
              value={draft.after}
              onInput={(e) => set({ after: e.currentTarget.value })}
            />
          </span>
        </div>
      ) : null}
      <label>
        <input
          type="checkbox"
          name="enabled"
          checked={draft.enabled}
          onChange={(e) => set({ enabled: e.currentTarget.checked })}
        />{' '}
        Enabled (enabling replays nothing by itself)
      </label>
      <div class="actions">
        <button type="submit" disabled={busy}>
          Save settings
        </button>
        {saved ? (
          <span class="muted small" role="status">
            Saved.
          </span>
        ) : null}
      </div>
      {error ? <ErrorNotice error={error} /> : null}
    </form>
  );
}

/** Under a registration: its health, and its settings to edit on demand. */
export function DeliveryCell({ registration }: { registration: Registration }) {
  const [view, setView] = useState<RegistrationHealthView | null>(null);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const label = `${registration.accountName} ${registration.serviceName}`;

  async function toggle() {
    if (open) {
      setOpen(false);
      return;
    }
    setError(null);
    try {
      setView(await controlsApi.registration(registration.accountName, registration.serviceName));
      setOpen(true);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, 'unexpected', String(caught)));
    }
  }

  return (
    <div class="delivery">
      <button
        type="button"
        class="secondary"
        aria-expanded={open}
        aria-label={`Delivery settings and health of ${label}`}
        onClick={toggle}
      >
        {open ? 'Hide delivery settings' : 'Delivery settings'}
      </button>
      {open && view ? (
        <>
          <HealthLine view={view} />
          <SettingsForm view={view} onSaved={setView} />
        </>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}

function describe(event: OperatorEventView): string {
  const data = (event.event as { data?: Record<string, unknown> }).data ?? {};
  const target = data.messageId ? `message ${String(data.messageId)}` : `${data.accountName} ${data.serviceName}`;
  return `${target}`;
}

/** Below the accounts: the operator events of late, with how their delivery went. */
export function OperatorEventsCard() {
  const { data, error } = usePoll(() => controlsApi.operatorEvents(), [], 10_000);
  const items = data?.items ?? [];
  if (!error && items.length === 0) return null;
  return (
    <section class="card" aria-labelledby="operator-events">
      <h2 id="operator-events">Operator events</h2>
      <p class="muted small">Sent to CCB_OPERATOR_WEBHOOK_URL, newest first.</p>
      {error ? <ErrorNotice error={error} /> : null}
      <ul class="operator-events">
        {items.map((item) => (
          <li key={item.messageId} data-event-type={item.type}>
            <code>{item.type}</code> {describe(item)} · <Time iso={item.timestamp || null} /> ·{' '}
            <StatusBadge status={item.status} />
          </li>
        ))}
      </ul>
    </section>
  );
}
