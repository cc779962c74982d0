/** `node:test` as the test files see it (test/test-timeout.mjs): `it` and `test` with a default timeout. */
import * as nodeTest from 'node:test';

export * from 'node:test';

const TIMEOUT_MS = Number(process.env.CCB_TEST_TIMEOUT_MS || 60_000);

/** The arguments of `it(name?, options?, fn?)` with `timeout` added where the test sets none. */
function withTimeout(args) {
  const [name, options, fn] = args;
  if (typeof name === 'function') return [{ timeout: TIMEOUT_MS }, name];
  if (typeof options === 'function') return [name, { timeout: TIMEOUT_MS }, options];
  if (options !== null && typeof options === 'object') return [name, { timeout: TIMEOUT_MS, ...options }, fn];
  return args;
}

function withDefaultTimeout(run) {
  const wrapped = (...args) => run(...withTimeout(args));
  for (const variant of ['skip', 'todo', 'only']) {
    if (typeof run[variant] === 'function') wrapped[variant] = (...args) => run[variant](...withTimeout(args));
  }
  return wrapped;
}

export const it = withDefaultTimeout(nodeTest.it);
export const test = withDefaultTimeout(nodeTest.test);
export default test;
