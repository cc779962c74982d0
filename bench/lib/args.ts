import { type ParseArgsConfig, parseArgs } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * The command line of a bench script: `--help` prints `usage`, and an unknown flag or a count that is
 * not a positive whole number is refused in one line (exit 2) instead of a stack trace.
 */
export function benchArgs<T extends Options>(
  usage: string,
  options: T,
  counts: (keyof T & string)[] = [],
): ReturnType<typeof parseArgs<{ options: T }>>['values'] {
  const refuse = (message: string): never => {
    console.error(`${message}\n\n${usage}`);
    process.exit(2);
  };
  let values: Record<string, unknown> = {};
  try {
    values = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (error) {
    refuse((error as Error).message);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  for (const name of counts) {
    const value = values[name];
    if (typeof value === 'string' && !/^[1-9]\d*$/.test(value)) {
      refuse(`--${name} must be a positive whole number, not "${value}"`);
    }
  }
  return values as ReturnType<typeof parseArgs<{ options: T }>>['values'];
}
