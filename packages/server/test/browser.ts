import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { fastTier } from '../../../test/tiers.js';

/** Debian's Chromium; the tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Why the browser tests cannot run here, or null when they can. With CI=true a missing browser is a
 * failure, not a skip (see `.ci/run`, which installs it).
 */
export function browserMissing(path: string = CHROMIUM, env: NodeJS.ProcessEnv = process.env): string | null {
  if (existsSync(path)) return null;
  const reason = `${path} is missing: install it with \`apt-get install chromium\` to run the dashboard tests`;
  if (env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  return reason;
}

/**
 * Headless Chromium with a fresh temporary profile (Playwright's launch makes one per browser and
 * deletes it on close), no sandbox (containers run as root) and no background traffic, so the only
 * requests are the test's own to 127.0.0.1.
 */
export function launchChromium(): Promise<Browser> {
  if (fastTier) throw new Error('a browser in the fast tier: mark the file `// test tier: full` (test/tiers.ts)');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
    timeout: 30_000,
  });
}
