/**
 * The settings library: how a setting is declared (flag, environment variables, default,
 * description, parser), the parsers the tables share, and how values are read (flag, else the first
 * environment variable set, else the default: the dev profile's where it has its own) and shown in
 * help. The tables are `SERVE_SETTINGS` (config.ts) and the CLI's (cli/settings.ts). Nothing else in
 * the product reads process.env.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** One setting: where its value comes from, what it means, and how its text becomes a value. */
export interface Setting<T> {
  /** The command-line flag as commander spells it (`--port <port>`), if the setting has one. */
  flag?: string;
  /** Environment variables, the first one set wins. */
  env: readonly string[];
  /** The default, as text parsed like a given value. */
  default?: string;
  /** The dev profile's default, where it differs. */
  devDefault?: string;
  /** How help describes a default that is not a plain value (derived, generated or required). */
  defaultText?: string;
  description: string;
  choices?: readonly string[];
  /** The flag may be given more than once (readSetting joins the values with commas). */
  repeatable?: boolean;
  /** Parses the text; throws an Error whose message says what is wrong (the setting's name is added). */
  parse(text: string): T;
}

/** A setting that always has a value (it has a default). */
export type DefaultedSetting<T> = Setting<T> & { default: string };

export function setting<T>(declaration: DefaultedSetting<T>): DefaultedSetting<T>;
export function setting<T>(declaration: Setting<T>): Setting<T>;
export function setting<T>(declaration: Setting<T>): Setting<T> {
  return declaration;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Largest first, for formatDuration. */
const UNITS_DESCENDING = Object.entries(UNITS).sort(([, a], [, b]) => b - a);

/** A duration as the settings write it: `300000` → `5m`, `1500` → `1500ms` (the largest unit that divides it). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of UNITS_DESCENDING) if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

// Parsers of the table. Their messages leave out the setting's name: readSetting puts it in front.

export function duration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a duration like 300ms, 5s, 5m, 2h or 7d`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']);
}

export function positiveDuration(text: string): number {
  const ms = duration(text);
  if (ms < 1) throw new Error(`"${text}" must be longer than 0`);
  return ms;
}

export function positiveInteger(text: string): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || n < 1) throw new Error(`"${text}" must be a positive whole number`);
  return n;
}

export function port(text: string): number {
  const n = Number(text);
  // Port 0 asks the OS for a free port (tests, several local servers).
  if (!/^\s*\d+\s*$/.test(text)) throw new Error(`"${text}" must be a whole number`);
  if (n > 65535) throw new Error(`${n} is above 65535`);
  return n;
}

/** A setting that is on or off (`--dev`, `CCB_ALLOW_PRIVATE_TARGETS=1`). */
export function isSwitch(declaration: Setting<unknown>): boolean {
  return declaration.parse === flag;
}

export function flag(text: string): boolean {
  const value = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(value)) return false;
  throw new Error(`"${text}" must be 1 or 0`);
}

export function text(value: string): string {
  return value;
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!choices.includes(value as T)) throw new Error(`"${value}" must be one of ${choices.join(', ')}`);
    return value as T;
  };
}

/** Parses text with one of the table's parsers; a bad value is a ConfigError naming `what`. */
export function parseWith<T>(parse: (text: string) => T, text: string, what: string): T {
  try {
    return parse(text);
  } catch (error) {
    throw new ConfigError(`${what}: ${(error as Error).message}`);
  }
}

/** Parses a duration like `300ms`, `5s`, `5m`, `2h`, `7d` (a bare number is milliseconds). */
export function parseDuration(value: string, what = 'duration'): number {
  return parseWith(duration, value, what);
}

/** A table of settings, and the values it yields (undefined where a setting has no value and no default). */
// biome-ignore lint/suspicious/noExplicitAny: a table holds settings of every value type
export type Settings = Record<string, Setting<any>>;
export type SettingValues<S extends Settings> = {
  [K in keyof S]: S[K] extends DefaultedSetting<infer T> ? T : S[K] extends Setting<infer T> ? T | undefined : never;
};

/** Values given on the command line, by commander's attribute name (`--retry-schedule` → retrySchedule). */
export type Flags = Record<string, unknown>;

/** Commander's attribute name of a flag: `--retry-schedule <delays>` → `retrySchedule`. */
export function flagAttribute(flagText: string): string {
  return flagText
    .split(/[ ,]/)[0]
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** The flag's name without its argument: `--port <port>` → `--port`. */
export function flagName(flagText: string): string {
  return flagText.split(' ')[0];
}

/** One setting's value: flag, else the first environment variable set, else the (dev) default. */
export function readSetting<T>(
  declaration: DefaultedSetting<T>,
  flags: Flags,
  env?: NodeJS.ProcessEnv,
  dev?: boolean,
): T;
export function readSetting<T>(
  declaration: Setting<T>,
  flags: Flags,
  env?: NodeJS.ProcessEnv,
  dev?: boolean,
): T | undefined;
export function readSetting<T>(
  declaration: Setting<T>,
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
  dev = false,
): T | undefined {
  let given: string | undefined;
  let source: string | undefined;
  const flagValue = declaration.flag ? flags[flagAttribute(declaration.flag)] : undefined;
  if (flagValue !== undefined && flagValue !== false) {
    given = flagValue === true ? '1' : Array.isArray(flagValue) ? flagValue.join(',') : String(flagValue);
    source = flagName(declaration.flag as string);
  } else {
    for (const name of declaration.env) {
      if (env[name] !== undefined && env[name] !== '') {
        given = env[name];
        source = name;
        break;
      }
    }
  }
  given ??= (dev ? declaration.devDefault : undefined) ?? declaration.default;
  if (given === undefined) return undefined;
  return parseWith(
    declaration.parse,
    given,
    source ?? (declaration.flag ? flagName(declaration.flag) : declaration.env[0]),
  );
}

/** Whether a setting was given (by its flag or an environment variable) rather than left to its default. */
export function settingGiven(
  declaration: Setting<unknown>,
  flags: Flags = {},
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (declaration.flag && ![undefined, false].includes(flags[flagAttribute(declaration.flag)] as undefined))
    return true;
  return declaration.env.some((name) => env[name] !== undefined && env[name] !== '');
}

/** Every value of a table (see readSetting). */
export function readSettings<S extends Settings>(
  table: S,
  flags: Flags = {},
  env: NodeJS.ProcessEnv = process.env,
  dev = false,
): SettingValues<S> {
  const values: Record<string, unknown> = {};
  for (const [key, declaration] of Object.entries(table)) values[key] = readSetting(declaration, flags, env, dev);
  return values as SettingValues<S>;
}

/** How help shows a setting's default and environment variables (one format for every command). */
export function settingNotes(declaration: Setting<unknown>): string[] {
  // A switch is off unless set: its note is how to set it.
  if (isSwitch(declaration) && declaration.default === '0' && declaration.devDefault === undefined) {
    return declaration.env.length > 0 ? [`env: ${declaration.env.join(' or ')}=1`] : [];
  }
  let defaultNote = declaration.defaultText;
  if (defaultNote === undefined && declaration.default !== undefined) {
    defaultNote = `default: ${declaration.default}`;
    if (declaration.devDefault !== undefined) defaultNote += `, ${declaration.devDefault} with --dev`;
  }
  return [defaultNote, declaration.env.length > 0 ? `env: ${declaration.env.join(' or ')}` : undefined].filter(
    (note): note is string => note !== undefined,
  );
}
