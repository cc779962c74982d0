import type { ServiceName } from '../services/index.js';

/** Body of `registerCallback`: the listener URL for one callback service of an account. */
export interface RegisterCallbackRequest {
  /** The callback service, e.g. `CarrierService` (see `SERVICES`). */
  name: ServiceName | (string & {});
  /** Absolute http(s) URL of the listener, on a port the platform allows. */
  url: string;
  /** Copied into every callback message's body; not an authentication handshake. */
  username?: string;
  /** Copied into every callback message's body. */
  password?: string;
}
