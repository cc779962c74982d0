/**
 * Reasons the service records on messages (CallbackMessage.reason), besides an attempt's error
 * (`kind: detail`, see attempt-error.ts). Free of imports, so the dashboard reads the same words.
 */
export const MessageReasons = {
  /** Published or claimed while no registration exists for its account and service. */
  noRegistration: 'no_registration',
  /** Its registration was removed before it was delivered. */
  registrationRemoved: 'registration_removed',
  /** Its registration is disabled (by an operator or by auto-disable): stored failed, replayable. */
  registrationDisabled: 'registration_disabled',
  /** The listener answered 410 Gone: no further attempt. */
  gone: 'gone: the listener answered 410 Gone',
} as const;

export type MessageReason = (typeof MessageReasons)[keyof typeof MessageReasons];
