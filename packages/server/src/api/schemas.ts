import Type from 'typebox';

/** The platform's account names as this API accepts them (SPEC §3), e.g. `0000123456-00001`. */
export const ACCOUNT_NAME_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
export const ACCOUNT_NAME = new RegExp(ACCOUNT_NAME_PATTERN);

/** An account name in a route's schema; `description` says what it names there. */
export function accountName(description = '1–64 letters, digits, - or _') {
  return Type.String({ pattern: ACCOUNT_NAME_PATTERN, description });
}
