/**
 * Module hook of test/test-timeout.mjs: `node:test` resolves to the wrapper, except for the wrapper
 * itself. Not `async`: the same function serves `module.registerHooks` (synchronous, Node 22.15 and
 * later) and `module.register` (Node 20), where it hands on the promise of the next hook.
 */
const WRAPPER = new URL('./node-test-with-timeout.mjs', import.meta.url).href;

export function resolve(specifier, context, next) {
  if (specifier === 'node:test' && context.parentURL !== WRAPPER) return { url: WRAPPER, shortCircuit: true };
  return next(specifier, context);
}
