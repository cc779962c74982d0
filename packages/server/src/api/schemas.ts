import Type from 'typebox';
import { ACCOUNT_NAME_PATTERN, ACCOUNT_NAME_RULE } from '../domain/account-name.js';

export { ACCOUNT_NAME, ACCOUNT_NAME_PATTERN } from '../domain/account-name.js';

/** An account name in a route's schema; `description` says what it names there. */
export function accountName(description = ACCOUNT_NAME_RULE) {
  return Type.String({ pattern: ACCOUNT_NAME_PATTERN, description });
}
