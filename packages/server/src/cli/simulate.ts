import type { Command } from 'commander';

/** `ccb simulate`: publishes example messages through the admin API. Built by the listener issue. */
export function registerSimulateCommand(_program: Command): void {}
