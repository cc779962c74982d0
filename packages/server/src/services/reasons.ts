import { ATTEMPT_ERROR_KINDS } from '../delivery/attempt-error.js';

/** Reasons the service records on messages (CallbackMessage.reason), besides an attempt's error. */
export const MessageReasons = {
  /** Published or claimed while no registration exists for its account and service. */
  noRegistration: 'no_registration',
  /** Its registration was removed before it was delivered. */
  registrationRemoved: 'registration_removed',
} as const;

/** What a listener's 410 records: it asked never to be called again (delivery/retry-schedule.ts). */
export const GONE_REASON_KIND = 'gone';

/**
 * Every kind a message's reason can have, for filtering (`GET /admin/v1/messages?reason=`): the
 * service's own reasons, `gone`, and the kinds of attempt errors (`timeout: …`, `http_status: …`).
 */
export const REASON_KINDS = [...Object.values(MessageReasons), GONE_REASON_KIND, ...ATTEMPT_ERROR_KINDS] as const;
