/** Service catalogue (SPEC §6). Filled in by the listener/catalogue issue. */
export const SERVICES: readonly { name: string; category: string; description: string }[] = [];
