/**
 * A node:test reporter that prints one line at the end of `npm test`:
 * `390 tests: 388 passed, 0 failed, 2 skipped, in 141.2 s`. It runs beside the TAP reporter, whose
 * own closing lines (`# tests …`, `# pass …`) stay as they are for CI.
 */
const COUNT = /^(tests|pass|fail|cancelled|skipped|todo|duration_ms) (\d+(?:\.\d+)?)$/;

export default async function* summaryReporter(source) {
  const counts = {};
  for await (const event of source) {
    if (event.type === 'test:summary' && event.data.file === undefined && event.data.counts) {
      // Node 22 and later: the run's totals as one event.
      const { tests, passed, failed, cancelled, skipped, todo } = event.data.counts;
      Object.assign(counts, { tests, pass: passed, fail: failed, cancelled, skipped, todo });
      counts.duration_ms = event.data.duration_ms;
    } else if (event.type === 'test:diagnostic' && event.data.nesting === 0) {
      // Node 20: the totals arrive as the run's closing diagnostics.
      const match = COUNT.exec(event.data.message);
      if (match) counts[match[1]] = Number(match[2]);
    }
  }
  if (counts.tests === undefined) return;
  const failed = (counts.fail ?? 0) + (counts.cancelled ?? 0);
  const seconds = ((counts.duration_ms ?? 0) / 1000).toFixed(1);
  yield `\n${counts.tests} test${counts.tests === 1 ? '' : 's'}: ${counts.pass ?? 0} passed, ${failed} failed, ${counts.skipped ?? 0} skipped, in ${seconds} s\n`;
}
