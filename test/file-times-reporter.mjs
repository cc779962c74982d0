/**
 * A node:test reporter for test/run.ts: the seconds each test file took, as one JSON object
 * `{file: seconds}` written to its destination at the end. A file of a batch is the top-level suite
 * named by its path; a file run as a process of its own is the sum of its top-level tests.
 */
import { relative } from 'node:path';

const TEST_FILE = /\.test\.[cm]?[jt]s$/;

export default async function* fileTimesReporter(source) {
  const times = {};
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0) {
      const seconds = (event.data.details?.duration_ms ?? 0) / 1000;
      const file = TEST_FILE.test(event.data.name)
        ? event.data.name
        : event.data.file && TEST_FILE.test(event.data.file)
          ? relative(process.cwd(), event.data.file)
          : undefined;
      if (file) times[file] = Math.round(((times[file] ?? 0) + seconds) * 10) / 10;
    }
  }
  yield `${JSON.stringify(times, null, 2)}\n`;
}
