/** Listener kit (SPEC §7). Filled in by the listener/catalogue issue. */
export {};
