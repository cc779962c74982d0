/** What `registerCallback` and `deregisterCallback` answer. */
export interface CallbackActionResult {
  accountName?: string;
  serviceName?: string;
}
