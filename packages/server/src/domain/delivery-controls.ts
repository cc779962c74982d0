/**
 * The words of delivery controls (SPEC §11, docs/delivery-controls.md) as the admin API answers them:
 * a registration's settings, its health, the operator events. Free of imports, so the dashboard
 * bundles the same names; the API's schemas (api/controls.ts) answer these shapes.
 */

export const ORDERINGS = ['none', 'fifo'] as const;
export type Ordering = (typeof ORDERINGS)[number];

/** The settings body of `GET` / `PATCH /admin/v1/callbacks/{aname}/{sname}/settings`. */
export interface ControlSettings {
  ordering: Ordering;
  rateLimit: { perSecond: number } | { perMinute: number } | null;
  autoDisable: { after: string; warnAfter: string } | null;
  enabled: boolean;
}

/** A registration's endpoint health as the admin API shows it (times ISO 8601). */
export interface HealthView {
  consecutiveFailures: number;
  failingSince: string | null;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  recentAttempts: number;
  recentSuccessRatio: number | null;
  warnedAt: string | null;
  disabledAt: string | null;
}

/** `GET /admin/v1/callbacks/{aname}/{sname}`: a registration (no secrets) with its settings and health. */
export interface RegistrationHealthView {
  accountName: string;
  serviceName: string;
  url: string;
  credentialsSet: boolean;
  createdAt: string;
  updatedAt: string;
  settings: ControlSettings;
  health: HealthView;
}

export const OPERATOR_EVENT_TYPES = [
  'registration.failing',
  'registration.disabled',
  'registration.recovered',
  'message.exhausted',
] as const;
export type OperatorEventType = (typeof OPERATOR_EVENT_TYPES)[number];

/** One entry of `GET /admin/v1/operator/events`: the event as sent and how its delivery went. */
export interface OperatorEventEntry {
  messageId: string;
  type: string;
  timestamp: string;
  status: string;
  attempts: number;
  createdAt: string;
  event: Record<string, unknown>;
}
