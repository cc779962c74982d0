/** Listener kit (SPEC §7): what an account owner runs at the registered URL. */
export {
  createListener,
  type ListenerHandler,
  type ListenerMessage,
  type ListenerOptions,
  type ListenerRefusal,
  type ReceivedCallback,
} from './create-listener.js';
export { type DedupeStore, MemoryDedupeStore, type MemoryDedupeStoreOptions } from './dedupe.js';
export {
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookHeaders,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
} from './verify.js';
