import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/**
 * Encrypts single fields (callback passwords, signing secrets) with AES-256-GCM. Stored format:
 * `v1:<iv base64>:<ciphertext base64>:<tag base64>`; the version leaves room for key rotation.
 */
export class FieldCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('FieldCipher needs a 32-byte key');
  }

  /**
   * Tells keys apart without revealing them: an HMAC-SHA256 of a fixed label under the key. Stored
   * in the database, so an instance with another key can refuse to start.
   */
  checkValue(): string {
    return `${VERSION}:${createHmac('sha256', this.key).update('ccb encryption key check').digest('base64')}`;
  }

  encrypt(plain: string): string {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64'), body.toString('base64'), cipher.getAuthTag().toString('base64')].join(':');
  }

  /** Throws when the value was not made with this key or has been tampered with. */
  decrypt(stored: string): string {
    const parts = stored.split(':');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new Error('encrypted field has an unknown format');
    const iv = Buffer.from(parts[1], 'base64');
    const tag = Buffer.from(parts[3], 'base64');
    if (iv.length !== IV_LENGTH || tag.length !== TAG_LENGTH) throw new Error('encrypted field is damaged');
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_LENGTH });
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(parts[2], 'base64')), decipher.final()]).toString('utf8');
  }
}
