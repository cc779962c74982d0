import { FieldCipher } from '../security/encryption.js';
import type { Store } from '../store/types.js';
import { MessageService } from './messages.js';
import { RegistrationService } from './registrations.js';

export interface Services {
  registrations: RegistrationService;
  messages: MessageService;
}

/** The product's rules over a store; refuses an encryption key that cannot read the stored secrets. */
export async function createServices(store: Store, encryptionKey: Buffer): Promise<Services> {
  const registrations = new RegistrationService(store, new FieldCipher(encryptionKey));
  await registrations.checkEncryptionKey();
  return { registrations, messages: new MessageService(store, registrations) };
}
