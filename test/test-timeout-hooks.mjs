/** Module hook of test/test-timeout.mjs: `node:test` resolves to the wrapper, except for the wrapper itself. */
const WRAPPER = new URL('./node-test-with-timeout.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'node:test' && context.parentURL !== WRAPPER) return { url: WRAPPER, shortCircuit: true };
  return next(specifier, context);
}
