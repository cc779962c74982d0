import { ArgumentError } from './errors.js';

/** Argument checks shared by the client's constructor and its operations; each throws `ArgumentError`. */

export function requireNonEmptyString(value: unknown, argument: string): string {
  if (typeof value !== 'string') throw new ArgumentError(argument, `must be a string, got ${describe(value)}`);
  if (value.trim() === '') throw new ArgumentError(argument, 'must not be empty');
  return value;
}

/** `undefined` and `null` mean "not given"; anything else must be a string. */
export function optionalString(value: unknown, argument: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ArgumentError(argument, `must be a string, got ${describe(value)}`);
  return value;
}

export function requirePlainObject(value: unknown, argument: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ArgumentError(argument, `must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

export function optionalNonNegativeNumber(
  value: unknown,
  argument: string,
  fallback: number,
  { integer = false } = {},
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new ArgumentError(
      argument,
      `must be a non-negative ${integer ? 'integer' : 'number'}, got ${describe(value)}`,
    );
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}
