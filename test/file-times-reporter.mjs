/**
 * A node:test reporter for test/fast.ts: the time each test file of a batch took (the top-level suite
 * named by its path), as one JSON object `{file: seconds}`, written to its destination at the end.
 */
export default async function* fileTimesReporter(source) {
  const times = {};
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0) {
      const seconds = (event.data.details?.duration_ms ?? 0) / 1000;
      if (/\.test\.[cm]?[jt]s$/.test(event.data.name)) times[event.data.name] = Math.round(seconds * 10) / 10;
    }
  }
  yield `${JSON.stringify(times, null, 2)}\n`;
}
