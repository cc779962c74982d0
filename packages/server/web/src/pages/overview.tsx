import { useMemo } from 'preact/hooks';
import { api, type HistoryPoint, MESSAGE_STATUSES } from '../api';
import { Chart } from '../chart';
import { ErrorNotice, href, LiveNote, roughDuration, StatusBadge, usePoll } from '../ui';

const perSecond = (count: number, intervalMs: number) => (intervalMs > 0 ? (count * 1000) / intervalMs : 0);

/**
 * Deliveries per second come from the store's delivered count (every process on the store counts,
 * so it is right behind a split api/worker deployment too; a replay or a purge lowering the count
 * reads as 0). Failed attempts come from the attempts this server made.
 */
function rates(point: HistoryPoint, previous: HistoryPoint) {
  let failed = 0;
  for (const [outcome, count] of Object.entries(point.attempts)) if (outcome !== 'success') failed += count;
  return {
    delivered: perSecond(Math.max(0, point.counts.delivered - previous.counts.delivered), point.intervalMs),
    failed: perSecond(failed, point.intervalMs),
  };
}

const formatRate = (rate: number) => `${rate < 10 ? rate.toFixed(1) : Math.round(rate)}/s`;

export function OverviewPage() {
  const { data, error, updatedAt } = usePoll(() => api.history(), []);
  const points = data?.points ?? [];
  const latest = points.at(-1);
  // The first point has nothing before it, so it carries no rate.
  const rated = points.slice(1);
  const r = rated.map((p, i) => rates(p, points[i]));
  const series = useMemo(() => {
    const x = rated.map((p) => Date.parse(p.at) / 1000);
    return {
      x,
      rate: [r.map((v) => v.delivered), r.map((v) => v.failed)],
      queue: [rated.map((p) => p.queueDepth), rated.map((p) => p.oldestDueAgeMs / 1000)],
    };
  }, [data]);
  const outcomes = useMemo(() => {
    const totals = new Map<string, number>();
    for (const p of points) for (const [k, v] of Object.entries(p.attempts)) totals.set(k, (totals.get(k) ?? 0) + v);
    return [...totals].sort((a, b) => b[1] - a[1]);
  }, [data]);
  const now = r.at(-1) ?? { delivered: 0, failed: 0 };
  const windowMinutes = points.length > 1 ? (Date.parse(points.at(-1)!.at) - Date.parse(points[0].at)) / 60_000 : 0;

  return (
    <>
      <h1>Overview</h1>
      <LiveNote updatedAt={updatedAt} what="This page" />
      {error ? <ErrorNotice error={error} /> : null}
      {latest ? (
        <section aria-label="Now" class="cards">
          <div class="card stat">
            <span class="stat-label">Delivery rate</span>
            <span class="stat-value" data-testid="delivery-rate">
              {formatRate(now.delivered)}
            </span>
          </div>
          <div class="card stat">
            <span class="stat-label">Failed attempts</span>
            <span class="stat-value">{formatRate(now.failed)}</span>
          </div>
          <div class="card stat">
            <span class="stat-label">Queue depth</span>
            <span class="stat-value" data-testid="queue-depth">
              {latest.queueDepth}
            </span>
          </div>
          <div class="card stat">
            <span class="stat-label">Oldest pending</span>
            <span class="stat-value" data-testid="oldest-pending">
              {latest.oldestDueAgeMs > 0 ? roughDuration(latest.oldestDueAgeMs) : 'none'}
            </span>
            <span class="muted small">
              How long the pending message due first has waited past its due time. A retry counts once its delay has
              passed; messages being delivered do not count.
            </span>
          </div>
        </section>
      ) : null}
      {latest ? (
        <section aria-labelledby="by-status" class="card">
          <h2 id="by-status">Messages by status</h2>
          <ul class="status-counts">
            {MESSAGE_STATUSES.map((status) => (
              <li key={status}>
                <a href={status === 'failed' ? href('failed') : href('messages', { status })}>
                  <StatusBadge status={status} /> <strong>{latest.counts[status]}</strong>
                </a>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <section aria-labelledby="rate-title" class="card">
        <h2 id="rate-title">Delivery rate</h2>
        <p class="muted">
          Messages delivered per second (by every process on this database) and failed attempts per second (made by this
          server), sampled every couple of seconds while this page is open (last{' '}
          {Math.max(1, Math.round(windowMinutes))} min, up to 10).
        </p>
        <Chart
          title={`Delivery rate: ${formatRate(now.delivered)} delivered, ${formatRate(now.failed)} failed attempts`}
          series={[
            { label: 'delivered/s', color: '#047857' },
            { label: 'failed attempts/s', color: '#b91c1c' },
          ]}
          x={series.x}
          ys={series.rate}
          units={['per second']}
        />
      </section>
      <section aria-labelledby="queue-title" class="card">
        <h2 id="queue-title">Queue</h2>
        <Chart
          title={`Queue depth ${latest?.queueDepth ?? 0}, oldest pending ${roughDuration(latest?.oldestDueAgeMs ?? 0)}`}
          series={[
            { label: 'queue depth', color: '#1d4ed8' },
            { label: 'oldest pending (s)', color: '#b45309', scale: 1 },
          ]}
          x={series.x}
          ys={series.queue}
          units={['messages', 'seconds']}
        />
      </section>
      <section aria-labelledby="outcomes-title" class="card">
        <h2 id="outcomes-title">Attempt outcomes in this window</h2>
        {outcomes.length === 0 ? (
          <p class="muted">
            No attempts yet. Publish a message with{' '}
            <code>ccb publish &lt;account&gt; &lt;service&gt; --data '{'{}'}'</code> or run{' '}
            <code>ccb simulate --account &lt;account&gt; --count 100</code>.
          </p>
        ) : (
          <table class="compact">
            <thead>
              <tr>
                <th scope="col">Outcome</th>
                <th scope="col" class="num">
                  Attempts
                </th>
              </tr>
            </thead>
            <tbody>
              {outcomes.map(([outcome, count]) => (
                <tr key={outcome}>
                  <td>
                    <code>{outcome}</code>
                  </td>
                  <td class="num">{count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
