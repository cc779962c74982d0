import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, type Message, type ReplayJob } from '../api';
import { EmptyState, ErrorNotice, Time } from '../ui';
import { describeFilter, FilterForm, filterFrom, toQuery } from './filters';
import { MessageTable, Pager, usePagedMessages } from './messages';

function ReplayOne({ message, onDone }: { message: Message; onDone: () => void }) {
  const [state, setState] = useState<'idle' | 'busy' | 'queued'>('idle');
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      <button
        type="button"
        class="secondary"
        disabled={state !== 'idle'}
        aria-label={`Replay ${message.id}`}
        onClick={async () => {
          setState('busy');
          try {
            await api.replay(message.id);
            setState('queued');
            onDone();
          } catch (caught) {
            setError(caught instanceof Error ? caught.message : String(caught));
            setState('idle');
          }
        }}
      >
        {state === 'queued' ? 'Queued' : 'Replay'}
      </button>
      {error ? (
        <span class="field-error" role="alert">
          {' '}
          {error}
        </span>
      ) : null}
    </>
  );
}

const JOB_POLL_MS = 500;

/** A bulk replay job started here, followed until it ends (`load` reads it: the admin API's by default). */
export function JobProgress({
  jobId,
  onFinished,
  load = api.replayJob,
}: {
  jobId: string;
  onFinished: () => void;
  load?: (jobId: string) => Promise<ReplayJob>;
}) {
  const [job, setJob] = useState<ReplayJob | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const next = await load(jobId);
        if (stopped) return;
        setJob(next);
        if (next.status !== 'running') {
          onFinished();
          return;
        }
      } catch (caught) {
        if (stopped) return;
        setError(caught instanceof ApiError ? caught : new ApiError(0, 'unexpected', String(caught)));
      }
      timer = setTimeout(poll, JOB_POLL_MS);
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [jobId]);

  return (
    <div class="card job" role="status" aria-live="polite" data-testid="replay-job" data-job-status={job?.status}>
      <p>
        <strong>Bulk replay {jobId}</strong>: {job ? job.status : 'starting'}
        {job ? (
          <>
            {' '}
            — {job.replayed} of {job.matched} matched messages queued again
          </>
        ) : null}
      </p>
      {job && job.noListener > 0 ? (
        <p data-testid="replay-no-listener">
          {job.noListener} {job.noListener === 1 ? 'message was' : 'messages were'} left alone: no listener is
          registered for {job.noListener === 1 ? 'its' : 'their'} account and service, so{' '}
          {job.noListener === 1 ? 'it' : 'they'} would fail again at once. Register a listener, then replay again.
        </p>
      ) : null}
      {job ? (
        <progress max={Math.max(job.matched, 1)} value={job.status === 'done' && job.matched === 0 ? 1 : job.replayed}>
          {job.replayed} of {job.matched}
        </progress>
      ) : null}
      {job?.finishedAt ? (
        <p class="muted small">
          Finished <Time iso={job.finishedAt} />.
        </p>
      ) : null}
      {job?.error ? <p class="field-error">{job.error}</p> : null}
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}

export function FailedPage({ params, services }: { params: URLSearchParams; services: string[] }) {
  const { q: _ignored, ...given } = filterFrom(params);
  const filter = { ...given, status: 'failed' };
  const paged = usePagedMessages(filter);
  const { data, error, loading, refresh } = paged;
  const [jobId, setJobId] = useState<string | null>(null);
  const [bulkError, setBulkError] = useState<ApiError | null>(null);
  const scope = describeFilter(filter);

  async function bulkReplay() {
    setBulkError(null);
    const what = scope ? `every failed message of ${scope}` : 'every failed message';
    if (!confirm(`Replay ${what}? They are delivered again to the URLs registered now.`)) return;
    try {
      const { q: _none, ...replayFilter } = toQuery(filter);
      const started = await api.bulkReplay(replayFilter);
      setJobId(started.jobId);
    } catch (caught) {
      setBulkError(caught instanceof ApiError ? caught : new ApiError(0, 'unexpected', String(caught)));
    }
  }

  return (
    <>
      <h1>Failed messages</h1>
      <p class="muted">
        Messages whose attempts ran out, or that had no registration. They are kept for the retention period (30 days by
        default) and can be delivered again.
      </p>
      <FilterForm page="failed" filter={filter} services={services} withStatus={false} withSearch={false} />
      {error ? <ErrorNotice error={error} action="Check the filter values above." /> : null}
      <div class="actions">
        <button type="button" onClick={bulkReplay} disabled={!data || data.items.length === 0}>
          Replay all failed{scope ? ` of ${scope}` : ''}
        </button>
      </div>
      {bulkError ? <ErrorNotice error={bulkError} /> : null}
      {jobId ? <JobProgress key={jobId} jobId={jobId} onFinished={refresh} /> : null}
      {!loading && data && data.items.length === 0 ? (
        <EmptyState title="No failed message.">
          <p>
            {scope
              ? `Nothing failed for ${scope}. Clear the filter to see the others.`
              : 'Every message was delivered or is still being tried. A message fails when its listener keeps refusing it for all attempts, or when it has no registration.'}
          </p>
        </EmptyState>
      ) : null}
      {data && data.items.length > 0 ? (
        <>
          <MessageTable items={data.items} actions={(m) => <ReplayOne message={m} onDone={refresh} />} />
          <Pager paged={paged} />
        </>
      ) : null}
    </>
  );
}
