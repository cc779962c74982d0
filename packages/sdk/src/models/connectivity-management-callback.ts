/** One registered listener, as `listRegisteredCallbacks` returns it. */
export interface ConnectivityManagementCallback {
  accountName?: string;
  serviceName?: string;
  url?: string;
  /** As registered; the platform answers `""` when none was set. */
  username?: string;
  password?: string;
}
