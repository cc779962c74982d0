import { api } from '../api';
import { Time, usePoll } from '../ui';

/** The audit actions that replay one message: from the dashboard or the admin API, and from the portal. */
const REPLAY_ACTIONS = new Set(['replayMessage', 'portalReplayMessage']);

/**
 * When and by whom a message was replayed, from the audit log (`GET /admin/v1/audit?target=<id>`,
 * docs/access.md): the replays of this one message. A replay of many at once (by filter) is recorded
 * as its job, not per message, so it is not listed here. Shows nothing when the token may not read
 * the audit log (a key without the admin scope).
 */
export function ReplayHistory({ id }: { id: string }) {
  const { data } = usePoll(() => api.auditOf(id), [id], 10_000);
  const replays = (data?.items ?? []).filter((entry) => REPLAY_ACTIONS.has(entry.action) && entry.outcome === 'ok');
  if (replays.length === 0) return null;
  return (
    <div class="replays" data-testid="replay-history">
      <h3>Replayed</h3>
      <ul>
        {replays.map((entry) => (
          <li key={entry.at}>
            <Time iso={entry.at} /> by {entry.actor.kind} <strong>{entry.actor.name}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}
