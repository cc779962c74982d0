/** Reasons the service records on messages (CallbackMessage.reason), besides an attempt's error. */
export const MessageReasons = {
  /** Published or claimed while no registration exists for its account and service. */
  noRegistration: 'no_registration',
  /** Its registration was removed before it was delivered. */
  registrationRemoved: 'registration_removed',
  /** Its registration is disabled (by an operator or by auto-disable): stored failed, replayable. */
  registrationDisabled: 'registration_disabled',
} as const;
