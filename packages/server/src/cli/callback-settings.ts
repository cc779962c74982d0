import type { Command } from 'commander';
import type { RegistrationHealthView, SettingsChange, SettingsView } from './admin-api.js';
import { addConnectionOptions, adminApi, fail, type JsonFlag, request, serviceName, show } from './options.js';

interface SettingsFlags extends JsonFlag {
  fifo?: boolean;
  rate?: string;
  autoDisable?: string;
  enable?: boolean;
  disable?: boolean;
}

/** `5/s`, `300/m` or `none` → the API's rateLimit. */
export function parseRate(text: string): SettingsView['rateLimit'] {
  if (text.trim().toLowerCase() === 'none') return null;
  const match = /^\s*(\d+)\s*\/\s*(s|m)\s*$/i.exec(text);
  if (!match || Number(match[1]) < 1) throw new Error(`--rate "${text}" must be like 5/s, 300/m or none`);
  const count = Number(match[1]);
  return match[2].toLowerCase() === 's' ? { perSecond: count } : { perMinute: count };
}

/** `after=5d,warn=1d` or `none` → the API's autoDisable (the server checks the durations). */
export function parseAutoDisable(text: string): SettingsView['autoDisable'] {
  if (text.trim().toLowerCase() === 'none') return null;
  const parts = new Map(
    text.split(',').map((part) => {
      const [name, ...value] = part.split('=');
      return [name.trim().toLowerCase(), value.join('=').trim()] as const;
    }),
  );
  const after = parts.get('after');
  const warn = parts.get('warn');
  if (!after || !warn || parts.size !== 2) {
    throw new Error(`--auto-disable "${text}" must be like after=5d,warn=1d or none`);
  }
  return { after, warnAfter: warn };
}

const when = (iso: string | null) => iso ?? 'never';

/** The settings and health of a registration, for a person. */
export function formatSettings(view: RegistrationHealthView): string {
  const { settings, health } = view;
  const rate = settings.rateLimit;
  const ratio = health.recentSuccessRatio;
  return [
    `${view.serviceName} of ${view.accountName} → ${view.url}`,
    `ordering      ${settings.ordering}`,
    `rate limit    ${rate === null ? 'none' : 'perSecond' in rate ? `${rate.perSecond}/s` : `${rate.perMinute}/m`}`,
    `auto-disable  ${settings.autoDisable === null ? 'none' : `after ${settings.autoDisable.after}, warn after ${settings.autoDisable.warnAfter}`}`,
    `enabled       ${settings.enabled ? 'yes' : `no${health.disabledAt ? ` (auto-disabled ${health.disabledAt})` : ''}`}`,
    `health        ${health.consecutiveFailures} failed in a row${health.failingSince ? ` since ${health.failingSince}` : ''}; last success ${when(health.lastSuccessAt)}`,
    `              ${ratio === null ? 'no attempts yet' : `${Math.round(ratio * 100)}% of the last ${health.recentAttempts} attempts succeeded`}`,
  ].join('\n');
}

/** `ccb callbacks settings`: show or change a registration's delivery settings (SPEC §11). */
export function registerSettingsCommand(callbacks: Command): void {
  addConnectionOptions(
    callbacks
      .command('settings')
      .description("Show or change a registration's delivery settings (FIFO, rate limit, auto-disable) and its health")
      .argument('<aname>', 'account name, e.g. 0000123456-00001')
      .argument('<service>', 'callback service, e.g. CarrierService', serviceName)
      .option('--fifo', 'deliver one message at a time, in publish order')
      .option('--no-fifo', 'deliver without ordering (the default)')
      .option('--rate <rate>', 'at most this many attempts: 5/s, 300/m, or none')
      .option('--auto-disable <rule>', 'warn, then disable, after failing this long: after=5d,warn=1d, or none')
      .option('--enable', 'enable the registration (replays nothing by itself)')
      .option('--disable', 'disable it: no attempts, new messages stored failed (registration_disabled)')
      .option('--json', 'print the registration with its settings and health as JSON'),
    { uses: 'admin' },
  )
    .addHelpText(
      'after',
      `\nWithout options it shows the current settings and health. docs/delivery-controls.md says what each does.

Examples:
  ccb callbacks settings 0000123456-00001 CarrierService
  ccb callbacks settings 0000123456-00001 CarrierService --fifo --rate 5/s
  ccb callbacks settings 0000123456-00001 CarrierService --auto-disable after=5d,warn=1d
  ccb callbacks settings 0000123456-00001 CarrierService --rate none --no-fifo --enable`,
    )
    .action(async (aname: string, service: string, flags: SettingsFlags, command: Command) => {
      const change: SettingsChange = {};
      if (flags.fifo !== undefined) change.ordering = flags.fifo ? 'fifo' : 'none';
      if (flags.enable && flags.disable) fail(command, '--enable and --disable contradict each other; give one');
      if (flags.enable) change.enabled = true;
      if (flags.disable) change.enabled = false;
      try {
        if (flags.rate !== undefined) change.rateLimit = parseRate(flags.rate);
        if (flags.autoDisable !== undefined) change.autoDisable = parseAutoDisable(flags.autoDisable);
      } catch (error) {
        fail(command, (error as Error).message);
      }
      const view = await request(command, async (connection) => {
        const api = adminApi(connection);
        if (Object.keys(change).length > 0) await api.changeSettings(aname, service, change);
        return api.getRegistration(aname, service);
      });
      show(command, flags.json, view, formatSettings(view));
    });
}
