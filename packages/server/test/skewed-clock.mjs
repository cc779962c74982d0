// Preloaded (node --import) into a `ccb serve` process by postgres-clock-skew.test.ts: the process's
// own clock (Date.now) runs CCB_TEST_CLOCK_SKEW_MS ahead of the machine's, as on a machine whose
// clock is off. It says so on stderr, so the test can show the skew was in place.
const skew = Number(process.env.CCB_TEST_CLOCK_SKEW_MS ?? 0);
const machineNow = Date.now;
Date.now = () => machineNow() + skew;
process.stderr.write(`clock skewed by ${skew} ms\n`);
