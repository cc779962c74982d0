import { readFileSync } from 'node:fs';

/** The server package's version (package.json is the one place it is written). */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** The `user-agent` of every delivery (SPEC §5). */
export const USER_AGENT = `ccb/${VERSION}`;
