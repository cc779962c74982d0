/**
 * The admin API's answers as TypeScript types, derived from the route schemas (TypeBox `Static<…>`),
 * for the dashboard and the portal (web/src). Types only: the web layer may import this file and
 * nothing else of src/ but domain/ (biome.json), and nothing of it is bundled.
 */
export type { AuditEntryView, AuditPageView } from './access.js';
export type {
  AttemptView,
  MessagePageView,
  MessageQuery,
  MessageView,
  MessageWithAttemptsView,
  PublishResponseView,
  ReplayJobView,
  ReplayRequestBody,
  StatsView,
} from './message-schemas.js';
export type { PortalLoginRequest, PortalRegistrationView, PortalSessionView } from './portal.js';
export type { RegistrationChange, RegistrationView } from './registrations.js';
export type { SecretView } from './secrets.js';
export type { HistoryPointView, HistoryView } from './stats-history.js';
export type { ProfileView } from './ui.js';
