import { readFileSync } from 'node:fs';

/** The server package's version (package.json is the one place it is written). */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
