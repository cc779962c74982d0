import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { MessageReasons } from '../domain/reasons.js';
import type { FieldCipher } from '../security/encryption.js';
import { ConfigError } from '../settings.js';
import type {
  DeliveryControls,
  RegistrationFields,
  RegistrationHealth,
  RegistrationRecord,
  Store,
} from '../store/types.js';
import { applySettings, type ControlSettings, isHeld } from './delivery-controls.js';

/** A listener URL registered by an account for one callback service, secrets decrypted. */
export interface Registration {
  accountName: string;
  serviceName: string;
  url: string;
  /** `null` when none was given at registration. */
  username: string | null;
  password: string | null;
  /** Current Standard Webhooks signing secret, `whsec_<base64>`. */
  signingSecret: string;
  /** The secret replaced by the last rotation, still signed with until `previousSecretExpiresAt`. */
  previousSecret: string | null;
  previousSecretExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  /** Delivery controls (SPEC §11); all off by default. */
  controls: DeliveryControls;
}

/** A registration with its health as stored now (the admin view; never cached). */
export interface RegistrationWithHealth extends Registration {
  health: RegistrationHealth;
}

export interface RegistrationInput {
  accountName: string;
  serviceName: string;
  url: string;
  username?: string | null;
  password?: string | null;
}

/**
 * How long this process may serve a registration (URL, credentials, secrets) that another process
 * changed, at most: the store's change mark is read at most this often. With PostgreSQL a
 * notification drops the cache as soon as the change commits; the mark covers a lost notification. Writes made through this process are
 * seen at once, an absent registration is always looked up in the store (never a cached "no"), and
 * deregistration cancels messages in the store itself, so delivery stops at once in every process.
 */
export const REGISTRATION_CACHE_STALENESS_MS = 200;
/** Accounts whose registrations are kept decrypted in memory. */
const CACHED_ACCOUNTS = 10_000;
/** Registration secrets stay valid this long after a rotation (SPEC §4). */
export const ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;

/** A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const byService = (a: Registration, b: Registration) =>
  a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : 0;

/**
 * The rules of registrations, on any store: a new registration gets a fresh signing secret, a
 * replacement keeps its secrets, passwords and secrets are encrypted at rest, rotation keeps the old
 * secret for ROTATION_GRACE_MS, deregistration cancels undelivered messages. Decrypted registrations
 * are cached per account (see REGISTRATION_CACHE_STALENESS_MS).
 */
export class RegistrationService {
  private readonly cache = new LRUCache<string, Registration[]>({ max: CACHED_ACCOUNTS });
  private changeMark: string | null = null;
  private markCheckedAt = Number.NEGATIVE_INFINITY;
  private markCheck: Promise<void> | null = null;
  /** Bumped by every write through this service: a read that started before one must not be cached. */
  private writes = 0;
  /** Whether some registration holds its messages (FIFO or a rate limit); null = ask the store. */
  private held: boolean | null = null;

  /** `clock` stamps the records and times the change-mark checks (tests pass a fake one). */
  constructor(
    private readonly store: Store,
    private readonly cipher: FieldCipher,
    private readonly clock: () => number = Date.now,
  ) {
    // Pushed invalidation where the store offers it (PostgreSQL): a change made elsewhere is seen within
    // a notification's delay, not the staleness bound. A read in progress is not cached (writes moved).
    store.onRegistrationsChanged?.(() => {
      this.writes++;
      this.cache.clear();
      this.held = null;
    });
  }

  /**
   * Refuses a key other than the database's: otherwise every delivery of every registration would
   * fail on decryption, over and over, long after start-up. The database keeps the key check value
   * of the first instance that started on it (a database from before the check gets the value of
   * the first instance whose key reads its secrets); an instance whose key gives another value
   * refuses, whichever started first, also when they start together on an empty database.
   */
  async checkEncryptionKey(): Promise<void> {
    const mismatch = () =>
      new ConfigError(
        'CCB_ENCRYPTION_KEY does not match the key this database was written with: every instance on one ' +
          'database needs the same key; start with the original key',
      );
    const sample = await this.store.registrations.sampleSecret();
    if (sample !== null) {
      try {
        this.cipher.decrypt(sample);
      } catch {
        throw mismatch();
      }
    }
    const mine = this.cipher.checkValue();
    if ((await this.store.keyCheck(mine, this.clock())) !== mine) throw mismatch();
  }

  async list(accountName: string): Promise<Registration[]> {
    return [...(await this.cachedList(accountName))];
  }

  /** Every registration of every account (the dashboard's accounts page); not cached. */
  async listAll(): Promise<Registration[]> {
    return (await this.store.registrations.listAll()).map((row) => this.decode(row));
  }

  /** A cached registration, or the store's answer: a cache miss never counts as "not registered". */
  async get(accountName: string, serviceName: string): Promise<Registration | null> {
    const cached = (await this.cachedList(accountName)).find((r) => r.serviceName === serviceName);
    if (cached) return cached;
    return (await this.load(accountName)).find((r) => r.serviceName === serviceName) ?? null;
  }

  /** Creates or replaces the registration of (account, service). */
  async upsert(input: RegistrationInput): Promise<Registration> {
    const now = this.clock();
    const previous = (await this.cachedList(input.accountName)).find((r) => r.serviceName === input.serviceName);
    const username = input.username ?? null;
    const password = input.password ?? null;
    const fields: RegistrationFields = {
      accountName: input.accountName,
      serviceName: input.serviceName,
      url: input.url,
      username,
      passwordEnc: password !== null ? this.cipher.encrypt(password) : null,
      updatedAt: now,
    };
    this.writes++;
    // Replacing is tried first: it is the common case and needs no new secret, which costs more to
    // make and encrypt than the write itself.
    let registration: Registration | null = null;
    if (await this.store.registrations.update(fields)) {
      // Registering again keeps the settings and enables a disabled registration (the store's update).
      if (previous) {
        registration = {
          ...previous,
          url: input.url,
          username,
          password,
          updatedAt: now,
          controls: previous.controls.enabled ? previous.controls : { ...previous.controls, enabled: true },
        };
      } else {
        const row = await this.store.registrations.get(input.accountName, input.serviceName);
        if (row) registration = this.decode(row);
      }
    }
    if (!registration) {
      const signingSecret = newSigningSecret();
      const signingSecretEnc = this.cipher.encrypt(signingSecret);
      const row = await this.store.registrations.insert({ ...fields, signingSecretEnc });
      registration =
        row.signingSecretEnc === signingSecretEnc
          ? {
              accountName: input.accountName,
              serviceName: input.serviceName,
              url: input.url,
              username,
              password,
              signingSecret,
              previousSecret: null,
              previousSecretExpiresAt: null,
              createdAt: row.createdAt,
              updatedAt: now,
              controls: row.controls,
            }
          : this.decode(row);
    }
    // Write-through rather than invalidate: a list right after a register needs no query.
    const list = this.cache.get(input.accountName);
    if (list) {
      const next = list.filter((r) => r.serviceName !== input.serviceName);
      next.push(registration);
      next.sort(byService);
      this.cache.set(input.accountName, next);
    }
    return registration;
  }

  /** The registration with its settings and health, read from the store (not the cache). */
  async getWithHealth(accountName: string, serviceName: string): Promise<RegistrationWithHealth | null> {
    const row = await this.store.registrations.get(accountName, serviceName);
    return row ? { ...this.decode(row), health: row.health } : null;
  }

  /**
   * Changes delivery controls (keys left out keep their value; InvalidSettingsError for a bad
   * value, nothing changed). Disabling fails the registration's pending messages with
   * `registration_disabled`; enabling clears the failing streak (so auto-disable starts over) and
   * replays nothing.
   */
  async updateSettings(
    accountName: string,
    serviceName: string,
    change: Partial<ControlSettings>,
  ): Promise<RegistrationWithHealth | null> {
    const row = await this.store.registrations.get(accountName, serviceName);
    if (!row) return null;
    const controls = applySettings(row.controls, change);
    const now = this.clock();
    this.writes++;
    const updated = await this.store.registrations.setControls({ accountName, serviceName }, controls, now);
    this.cache.delete(accountName);
    this.held = null;
    if (!updated) return null;
    const key = { accountName, serviceName };
    // No longer held (FIFO and rate limit both off): what waited for admission goes now.
    if (isHeld(row.controls) && !isHeld(controls)) await this.store.messages.releaseHeld(accountName, serviceName, now);
    if (row.controls.enabled && !controls.enabled) {
      await this.store.messages.failPending(accountName, serviceName, MessageReasons.registrationDisabled, now);
    } else if (!row.controls.enabled && controls.enabled) {
      await this.updateHealth(key, (health) => ({
        ...health,
        consecutiveFailures: 0,
        failingSince: null,
        warnedAt: null,
        disabledAt: null,
      }));
    }
    return this.getWithHealth(accountName, serviceName);
  }

  /**
   * Writes health computed from the stored one, again from a fresh read when another instance wrote
   * in between (optimistic, by the health version). `enabled`, when the change returns it, is written
   * with it. Returns the health written, or null when the registration is gone.
   */
  async updateHealth(
    key: { accountName: string; serviceName: string },
    change: (health: RegistrationHealth, record: RegistrationRecord) => RegistrationHealth & { enabled?: boolean },
    /** Runs after each computation, before its write (e.g. to store the events it decided). */
    beforeWrite?: () => Promise<void>,
  ): Promise<RegistrationHealth | null> {
    for (;;) {
      const row = await this.store.registrations.get(key.accountName, key.serviceName);
      if (!row) return null;
      const { enabled, ...next } = change(row.health, row);
      const health = { ...next, version: row.health.version + 1 };
      await beforeWrite?.();
      if (await this.store.registrations.writeHealth(key, health, enabled)) {
        if (enabled !== undefined && enabled !== row.controls.enabled) {
          this.writes++;
          this.cache.delete(key.accountName);
        }
        return health;
      }
    }
  }

  /** Whether some registration holds its messages (FIFO or a rate limit): asked of the store only after a change. */
  async anyHeld(): Promise<boolean> {
    await this.dropIfChangedElsewhere();
    this.held ??= await this.store.registrations.anyHeld();
    return this.held;
  }

  /**
   * Registers or changes a listener where credentials left out (`undefined`) keep what is registered
   * (none for a new registration); `null` removes them. The platform's register call replaces both.
   */
  async change(input: RegistrationInput): Promise<Registration> {
    const current =
      input.username === undefined || input.password === undefined
        ? await this.get(input.accountName, input.serviceName)
        : null;
    return this.upsert({
      ...input,
      username: input.username === undefined ? (current?.username ?? null) : input.username,
      password: input.password === undefined ? (current?.password ?? null) : input.password,
    });
  }

  /** Removes the registration and cancels its pending and delivering messages (SPEC §5). */
  async remove(accountName: string, serviceName: string): Promise<boolean> {
    this.writes++;
    try {
      return await this.store.registrations.removeAndCancelOpen(
        accountName,
        serviceName,
        MessageReasons.registrationRemoved,
        this.clock(),
      );
    } finally {
      this.cache.delete(accountName);
    }
  }

  /** Makes `secret` the signing secret at once (no grace for the old one); a no-op when it already is. */
  async useSigningSecret(accountName: string, serviceName: string, secret: string): Promise<void> {
    const current = await this.store.registrations.get(accountName, serviceName);
    if (!current || this.cipher.decrypt(current.signingSecretEnc) === secret) return;
    const now = this.clock();
    this.writes++;
    await this.store.registrations.rotateSecret({
      accountName,
      serviceName,
      signingSecretEnc: this.cipher.encrypt(secret),
      previousExpiresAt: now,
      now,
    });
    this.cache.delete(accountName);
  }

  /** Replaces the signing secret; the old one stays valid for ROTATION_GRACE_MS. */
  async rotateSecret(accountName: string, serviceName: string): Promise<Registration | null> {
    const now = this.clock();
    this.writes++;
    const row = await this.store.registrations.rotateSecret({
      accountName,
      serviceName,
      signingSecretEnc: this.cipher.encrypt(newSigningSecret()),
      previousExpiresAt: now + ROTATION_GRACE_MS,
      now,
    });
    this.cache.delete(accountName);
    return row ? this.decode(row) : null;
  }

  private async cachedList(accountName: string): Promise<Registration[]> {
    await this.dropIfChangedElsewhere();
    return this.cache.get(accountName) ?? this.load(accountName);
  }

  /** Reads an account's registrations from the store and caches them (unless a write overtook the read). */
  private async load(accountName: string): Promise<Registration[]> {
    const writes = this.writes;
    const list = (await this.store.registrations.list(accountName)).map((row) => this.decode(row));
    if (writes === this.writes) this.cache.set(accountName, list);
    return list;
  }

  /** Asking the store costs more than a cached read, so it is asked at most every REGISTRATION_CACHE_STALENESS_MS. */
  private async dropIfChangedElsewhere(): Promise<void> {
    const now = this.clock();
    if (now - this.markCheckedAt < REGISTRATION_CACHE_STALENESS_MS) return;
    this.markCheck ??= (async () => {
      try {
        const mark = await this.store.registrations.changeMark();
        if (mark !== this.changeMark) {
          this.cache.clear();
          this.held = null;
          this.changeMark = mark;
        }
        this.markCheckedAt = this.clock();
      } finally {
        this.markCheck = null;
      }
    })();
    await this.markCheck;
  }

  private decode(row: RegistrationRecord): Registration {
    return {
      accountName: row.accountName,
      serviceName: row.serviceName,
      url: row.url,
      username: row.username,
      password: row.passwordEnc != null ? this.cipher.decrypt(row.passwordEnc) : null,
      signingSecret: this.cipher.decrypt(row.signingSecretEnc),
      previousSecret: row.previousSecretEnc != null ? this.cipher.decrypt(row.previousSecretEnc) : null,
      previousSecretExpiresAt: row.previousSecretExpiresAt,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      controls: row.controls,
    };
  }
}
