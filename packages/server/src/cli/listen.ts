import type { Command } from 'commander';

/** `ccb listen`: a ready listener that prints each message. Built by the listener issue. */
export function registerListenCommand(_program: Command): void {}
