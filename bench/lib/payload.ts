import { randomUUID } from 'node:crypto';

/**
 * A CarrierService result as the platform sends it (an identifier change for one device), about 500
 * bytes once the engine adds credentials and counters. Fresh ids per message so nothing is cached.
 */
export function carrierPayload(seq: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const iccid = `891480000077${String(10_000_000 + (seq % 90_000_000)).padStart(8, '0')}`;
  return {
    requestId: randomUUID(),
    deviceIds: [
      { id: iccid, kind: 'iccid' },
      { id: `35175605${String(1_000_000 + (seq % 9_000_000))}`, kind: 'imei' },
      { id: `512555${String(1000 + (seq % 9000))}`, kind: 'mdn' },
    ],
    deviceResponse: {
      changeIdentifierResponse: {
        deviceIds: [{ id: `A1000027${(0x100000 + (seq % 0xeffff)).toString(16).toUpperCase()}`, kind: 'meid' }],
        servicePlan: 'M2M_4G_5GB',
        carrierName: 'Verizon Wireless',
        customFields: [{ key: 'CustomField1', value: `fleet-${seq % 97}` }],
      },
    },
    status: 'Success',
    ...extra,
  };
}

/** The body an engine sends for `payload` on a first attempt (SPEC §5), for peers and the ceiling. */
export function deliveredBody(payload: Record<string, unknown>): string {
  return JSON.stringify({ ...payload, username: '', password: '', callbackCount: 1, maxCallbackThreshold: 4 });
}
