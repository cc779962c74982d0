/**
 * `--import ./test/test-timeout.mjs`: every `it`/`test` without a timeout of its own gets one
 * (CCB_TEST_TIMEOUT_MS, default 60 s), so a hung test fails with its name and the rest of its file
 * still runs. node's `--test-timeout` cannot do this on Node 20: there it limits each test file as a
 * whole, and a hung test is reported only as its file. The test runner passes this flag on to the
 * process of every test file, where the hook below hands them `node:test` with that default.
 */
import * as nodeModule from 'node:module';
import { resolve } from './test-timeout-hooks.mjs';

// Hooks in this thread where Node has them; `module.register` (deprecated from Node 26) on Node 20.
if (typeof nodeModule.registerHooks === 'function') nodeModule.registerHooks({ resolve });
else nodeModule.register('./test-timeout-hooks.mjs', import.meta.url);
