/**
 * The platform's account names as this API accepts them (SPEC §3), e.g. `0000123456-00001`. Free of
 * imports, so the dashboard's account field checks the same rule in the browser.
 */
// `\-`, not a bare `-` at the end of the class: browsers compile a pattern attribute with the `v` flag,
// where a bare `-` in a class is a syntax error.
export const ACCOUNT_NAME_PATTERN = '^[A-Za-z0-9_\\-]{1,64}$';
export const ACCOUNT_NAME = new RegExp(ACCOUNT_NAME_PATTERN);
/** The rule in words (schema descriptions, the dashboard's hint). */
export const ACCOUNT_NAME_RULE = '1–64 letters, digits, - or _';
