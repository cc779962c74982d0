import { useMemo } from 'preact/hooks';
import { api, MESSAGE_STATUSES } from '../api';
import { Chart } from '../chart';
import { chartSeries, rates } from '../history';
import { ErrorNotice, href, LiveNote, roughDuration, StatusBadge, usePoll } from '../ui';

/** The chart windows offered (`#/overview?range=6h`). */
const WINDOWS = [
  { value: '15m', label: 'last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'last hour', ms: 3_600_000 },
  { value: '6h', label: 'last 6 hours', ms: 6 * 3_600_000 },
  { value: '24h', label: 'last 24 hours', ms: 24 * 3_600_000 },
];

const formatRate = (rate: number) => `${rate < 10 ? rate.toFixed(1) : Math.round(rate)}/s`;

export function OverviewPage({ params }: { params: URLSearchParams }) {
  const chartWindow = WINDOWS.find((w) => w.value === params.get('range')) ?? WINDOWS[1];
  const { data, error, updatedAt } = usePoll(
    () => api.history(new Date(Date.now() - chartWindow.ms).toISOString()),
    [chartWindow.value],
    // Hours of points are asked again less often than the last hour.
    chartWindow.ms > 3_600_000 ? 10_000 : undefined,
  );
  const points = data?.points ?? [];
  const latest = points.at(-1);
  const series = useMemo(() => chartSeries(points, data?.sampleIntervalMs ?? 10_000), [data]);
  const outcomes = useMemo(() => {
    const totals = new Map<string, number>();
    for (const p of points) for (const [k, v] of Object.entries(p.attempts)) totals.set(k, (totals.get(k) ?? 0) + v);
    return [...totals].sort((a, b) => b[1] - a[1]);
  }, [data]);
  const now = points.length > 1 ? rates(points.at(-1)!, points.at(-2)!) : { delivered: 0, failed: 0 };

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
            <span class="muted small">Longest wait past a due time; a retry counts once its delay is over.</span>
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
          Messages delivered per second (by every process on this database) and failed attempts per second, from the
          samples the server keeps every {roughDuration(data?.sampleIntervalMs ?? 10_000)} whether or not this page is
          open; the last point is now. A break in a line is a time when no server process ran.
        </p>
        <div class="filters">
          <div class="field">
            <label for="chart-window">Charts show</label>
            <select
              id="chart-window"
              value={chartWindow.value}
              onChange={(e) => {
                location.hash = href('overview', { range: e.currentTarget.value });
              }}
            >
              {WINDOWS.map((w) => (
                <option key={w.value} value={w.value}>
                  {w.label}
                </option>
              ))}
            </select>
          </div>
        </div>
        <Chart
          title={`Delivery rate: ${formatRate(now.delivered)} delivered, ${formatRate(now.failed)} failed attempts`}
          series={[
            { label: 'delivered/s', color: '#047857' },
            { label: 'failed attempts/s', color: '#b91c1c' },
          ]}
          x={series.x}
          ys={series.rate}
          gaps={series.gaps}
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
          gaps={series.gaps}
          units={['messages', 'seconds']}
        />
      </section>
      <section aria-labelledby="outcomes-title" class="card">
        <h2 id="outcomes-title">Attempt outcomes, {chartWindow.label}</h2>
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
