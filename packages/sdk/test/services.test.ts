import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CallbackMessageByService,
  type DeviceId,
  exampleMessage,
  examplePayload,
  isServiceName,
  SERVICE_NAMES,
  SERVICES,
  type ServiceName,
} from '../src/services/index.js';
import type * as messages from '../src/services/messages.js';

const SPEC_ORDER = [
  'CarrierService',
  'DeviceService',
  'DevicePRLInformation',
  'DeviceSuspensionStatus',
  'DeviceUsage',
  'DeviceProfileService',
  'StateService',
  'NiddService',
  'DiagnosticsService',
  'EnhancedConnectivityService',
  'SMSDeliveryConfirmation',
  'AlertService',
  'ExternalProvisioningChanges',
  'PromoChanges',
  'ResumeTrackingNotification',
  'SubscriptionNotificationService',
  'IntelligenceService',
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const NO_SHAPE_SERVICES = [
  'DeviceService',
  'DevicePRLInformation',
  'DeviceSuspensionStatus',
  'DeviceProfileService',
  'StateService',
  'DiagnosticsService',
  'AlertService',
  'SubscriptionNotificationService',
  'IntelligenceService',
] as const;

// Type-level checks: each example is assignable to its service's message type, and the map covers every name.
const typedExamples: [
  messages.CarrierServiceMessage,
  messages.DeviceServiceMessage,
  messages.DevicePRLInformationMessage,
  messages.DeviceSuspensionStatusMessage,
  messages.DeviceUsageMessage,
  messages.DeviceProfileServiceMessage,
  messages.StateServiceMessage,
  messages.NiddServiceMessage,
  messages.DiagnosticsServiceMessage,
  messages.EnhancedConnectivityServiceMessage,
  messages.SMSDeliveryConfirmationMessage,
  messages.AlertServiceMessage,
  messages.ExternalProvisioningChangesMessage,
  messages.PromoChangesMessage,
  messages.ResumeTrackingNotificationMessage,
  messages.SubscriptionNotificationServiceMessage,
  messages.IntelligenceServiceMessage,
] = [
  exampleMessage('CarrierService'),
  exampleMessage('DeviceService'),
  exampleMessage('DevicePRLInformation'),
  exampleMessage('DeviceSuspensionStatus'),
  exampleMessage('DeviceUsage'),
  exampleMessage('DeviceProfileService'),
  exampleMessage('StateService'),
  exampleMessage('NiddService'),
  exampleMessage('DiagnosticsService'),
  exampleMessage('EnhancedConnectivityService'),
  exampleMessage('SMSDeliveryConfirmation'),
  exampleMessage('AlertService'),
  exampleMessage('ExternalProvisioningChanges'),
  exampleMessage('PromoChanges'),
  exampleMessage('ResumeTrackingNotification'),
  exampleMessage('SubscriptionNotificationService'),
  exampleMessage('IntelligenceService'),
];
type Covers = [ServiceName] extends [keyof CallbackMessageByService]
  ? [keyof CallbackMessageByService] extends [ServiceName]
    ? true
    : false
  : false;
const mapCoversEveryService: Covers = true;
// Messages are plain object types, so they fit APIs that take any JSON object (e.g. a publish payload).
const asJsonObject: Record<string, unknown> = exampleMessage('ExternalProvisioningChanges');
void [typedExamples, mapCoversEveryService, asJsonObject];

function luhnValid(value: string): boolean {
  let sum = 0;
  for (let i = 0; i < value.length; i++) {
    let digit = Number(value[value.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

function assertValidIdentifier({ id, kind }: DeviceId): void {
  switch (kind.toLowerCase()) {
    case 'iccid':
      assert.match(id, /^8914800000\d{9,10}$/, `ICCID ${id}`);
      assert.ok(luhnValid(id), `ICCID ${id} has a Luhn check digit`);
      break;
    case 'imei':
      assert.match(id, /^\d{15}$/, `IMEI ${id}`);
      assert.ok(luhnValid(id), `IMEI ${id} has a Luhn check digit`);
      break;
    case 'mdn':
      assert.match(id, /^[2-9]\d{2}[2-9]\d{6}$/, `MDN ${id}`);
      break;
    case 'msisdn':
      assert.match(id, /^1[2-9]\d{2}[2-9]\d{6}$/, `MSISDN ${id}`);
      break;
    case 'imsi':
      assert.match(id, /^311480\d{9}$/, `IMSI ${id}`);
      break;
    case 'meid':
      assert.match(id, /^[0-9A-F]{14}$/, `MEID ${id}`);
      break;
    case 'eid':
      assert.match(id, /^\d{32}$/, `EID ${id}`);
      assert.equal(BigInt(id) % 97n, 1n, `EID ${id} passes its mod-97 check`);
      break;
    default:
      assert.fail(`unexpected identifier kind ${kind}`);
  }
}

function collectDeviceIds(value: unknown, found: DeviceId[] = []): DeviceId[] {
  if (Array.isArray(value)) {
    for (const item of value) collectDeviceIds(item, found);
  } else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.id === 'string' && typeof record.kind === 'string') found.push(record as unknown as DeviceId);
    for (const child of Object.values(record)) collectDeviceIds(child, found);
  }
  return found;
}

function assertEnvelope(message: Record<string, unknown>): void {
  assert.equal(message.username, '');
  assert.equal(message.password, '');
  assert.equal(message.callbackCount, 1);
  assert.equal(message.maxCallbackThreshold, 4);
}

function assertSuccessResult(message: Record<string, unknown>, responseKey: string): Record<string, unknown> {
  assert.match(String(message.requestId), UUID);
  assert.equal(message.status, 'Success');
  assert.ok(Array.isArray(message.deviceIds) && message.deviceIds.length > 0);
  assert.deepEqual(Object.keys(message.deviceResponse as object), [responseKey]);
  const response = (message.deviceResponse as Record<string, unknown>)[responseKey];
  assert.equal(typeof response, 'object');
  return response as Record<string, unknown>;
}

function lowerFirst(name: string): string {
  return name[0].toLowerCase() + name.slice(1);
}

describe('service catalogue', () => {
  it('lists the 17 platform services in the specification order', () => {
    assert.deepEqual(
      SERVICES.map((service) => service.name),
      SPEC_ORDER,
    );
    assert.deepEqual(SERVICE_NAMES, SPEC_ORDER);
  });

  it('gives every service a category and a description', () => {
    for (const service of SERVICES) {
      assert.ok(
        ['async response', 'async response + device data', 'device message + async response', 'notification'].includes(
          service.category,
        ),
      );
      assert.ok(service.description.length > 10, service.name);
    }
  });

  it('recognises service names exactly and rejects others', () => {
    for (const name of SPEC_ORDER) assert.equal(isServiceName(name), true);
    for (const name of ['carrierservice', 'AlertsService', 'PromoChange', 'SMS', '', 42, null]) {
      assert.equal(isServiceName(name), false, String(name));
    }
  });
});

describe('examplePayload', () => {
  it('is an example without the four delivery keys, for every service', () => {
    const deliveryKeys = ['username', 'password', 'callbackCount', 'maxCallbackThreshold'];
    for (const name of SERVICE_NAMES) {
      const payload = examplePayload(name, { accountName: '0000999999-00001' }) as Record<string, unknown>;
      for (const key of deliveryKeys) assert.equal(key in payload, false, `${name} keeps ${key}`);
      // Examples are drawn at random (a service's variants differ in their keys): the payload has only
      // keys its examples have, and every key they always have.
      const drawn = Array.from({ length: 50 }, () =>
        Object.keys(exampleMessage(name)).filter((key) => !deliveryKeys.includes(key)),
      );
      const possible = new Set(drawn.flat());
      for (const key of Object.keys(payload)) assert.ok(possible.has(key), `${name}: ${key} is a key of its examples`);
      for (const key of possible) {
        if (drawn.every((keys) => keys.includes(key))) assert.ok(key in payload, `${name} keeps ${key}`);
      }
    }
    assert.ok(
      JSON.stringify(examplePayload('NiddService', { accountName: '0000999999-00001' })).includes('0000999999-00001'),
    );
  });

  it('throws RangeError for an unknown service', () => {
    assert.throws(() => examplePayload('NoSuchService' as ServiceName), RangeError);
  });
});

describe('exampleMessage', () => {
  it('returns an example for every service with valid-looking identifiers and delivery placeholders', () => {
    for (const name of SERVICE_NAMES) {
      for (let round = 0; round < 20; round++) {
        const message = exampleMessage(name) as unknown as Record<string, unknown>;
        assertEnvelope(message);
        const ids = collectDeviceIds(message);
        assert.ok(ids.length > 0, `${name} names a device`);
        for (const id of ids) assertValidIdentifier(id);
        assert.doesNotThrow(() => JSON.parse(JSON.stringify(message)));
      }
    }
  });

  it('generates a fresh request id on every call', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const { requestId } = exampleMessage('CarrierService');
      assert.match(requestId, UUID);
      seen.add(requestId);
    }
    assert.equal(seen.size, 50);
  });

  it('shapes CarrierService as an activation or an identifier change', () => {
    for (let i = 0; i < 30; i++) {
      const message = exampleMessage('CarrierService') as unknown as Record<string, unknown>;
      const [key] = Object.keys(message.deviceResponse as object);
      const response = assertSuccessResult(message, key);
      if (key === 'activateResponse') {
        assert.equal(response.state, 'active');
        assert.equal(typeof response.servicePlan, 'string');
        const kinds = (message.deviceIds as DeviceId[]).map((id) => id.kind);
        assert.deepEqual(kinds, ['iccid', 'imei', 'mdn', 'msisdn']);
      } else {
        assert.equal(key, 'changeIdentifierResponse');
        assert.deepEqual(
          (response.deviceIds as DeviceId[]).map((id) => id.kind),
          ['iccid'],
        );
      }
    }
  });

  it('answers the no-shape services with deviceResponse.<name>Response', () => {
    for (const name of NO_SHAPE_SERVICES) {
      const response = assertSuccessResult(
        exampleMessage(name) as unknown as Record<string, unknown>,
        `${lowerFirst(name)}Response`,
      );
      assert.ok(Object.keys(response).length > 0, name);
    }
  });

  it('shapes DeviceUsage as a usage period with data and SMS counts', () => {
    const usage = exampleMessage('DeviceUsage').deviceResponse?.usageResponse;
    assert.ok(usage);
    assert.match(usage.startTime, ISO_8601);
    assert.match(usage.endTime, ISO_8601);
    assert.ok(Date.parse(usage.startTime) < Date.parse(usage.endTime));
    assert.ok(Number.isInteger(usage.dataUsage) && usage.dataUsage >= 0);
    assert.ok(Number.isInteger(usage.smsUsage) && usage.smsUsage >= 0);
  });

  it('shapes EnhancedConnectivityService as an SMS from a device', () => {
    const message = exampleMessage('EnhancedConnectivityService');
    assert.equal(typeof message.message, 'string');
    assert.ok(message.message.length > 0 && message.message.length <= 160);
    assert.match(message.timestamp, ISO_8601);
    assert.deepEqual(
      message.deviceIds.map((id) => id.kind),
      ['mdn', 'imei'],
    );
  });

  it('shapes SMSDeliveryConfirmation with a delivery status', () => {
    const response = assertSuccessResult(
      exampleMessage('SMSDeliveryConfirmation') as unknown as Record<string, unknown>,
      'smsDeliveryResponse',
    );
    assert.ok(['Delivered', 'Expired'].includes(String(response.deliveryStatus)));
  });

  it('shapes ExternalProvisioningChanges with source, change and device information', () => {
    const message = exampleMessage('ExternalProvisioningChanges', { accountName: '0000555555-00001' });
    assert.match(message.requestId, UUID);
    const change = message.deviceResponse.externalProvisioningChange;
    assert.equal(typeof change.source, 'string');
    assert.ok(['Activate', 'Suspend', 'Restore', 'Deactivate', 'changeIMEI'].includes(change.change));
    assert.equal(change.deviceInfo.accountName, '0000555555-00001');
    assert.equal(change.deviceInfo.carrierInformation[0].carrierName, 'Verizon Wireless');
  });

  it('shapes PromoChanges with the removed code and its date', () => {
    const { promoChange } = exampleMessage('PromoChanges').deviceResponse;
    assert.match(promoChange.change, /^PROMO-/);
    assert.match(promoChange.changeDate, /^\d{4}-\d{2}-\d{2}$/);
  });

  it('puts the auto-resume date seven days ahead in the ResumeTrackingNotification comment', () => {
    const message = exampleMessage('ResumeTrackingNotification');
    const date = /(\d{4}-\d{2}-\d{2})T/.exec(message.comment)?.[1];
    assert.ok(date, message.comment);
    const days = (Date.parse(date) - Date.now()) / 86_400_000;
    assert.ok(days > 5 && days <= 7, message.comment);
  });

  it('produces each NiddService variant with its verified shape', () => {
    const variants = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const message = exampleMessage('NiddService', { accountName: '0000555555-00001' });
      const [variant] = Object.keys(message.niddResponse);
      variants.add(variant);
      if ('niddMONotificationResponse' in message.niddResponse) {
        const mo = message.niddResponse.niddMONotificationResponse;
        assert.equal(mo.accountName, '0000555555-00001');
        assert.match(mo.message, /^[A-Za-z0-9+/]+=*$/);
        assert.equal(message.status, undefined);
      } else if ('niddMTDeliveryResponse' in message.niddResponse) {
        assert.ok(['Delivered', 'Queued', 'DeliveryFailed'].includes(String(message.status)));
      } else {
        assert.ok(['ConfigCreated', 'ConfigFailed'].includes(String(message.status)));
        assert.equal(message.deviceIds, undefined, 'config results carry no top-level deviceIds');
        assert.ok(message.niddResponse.niddConfigResponse.deviceIds.some((id) => id.kind === 'EID'));
      }
    }
    assert.deepEqual([...variants].sort(), [
      'niddConfigResponse',
      'niddMONotificationResponse',
      'niddMTDeliveryResponse',
    ]);
  });

  it('throws a clear error for an unknown service name', () => {
    assert.throws(() => exampleMessage('AlertsService' as ServiceName), {
      name: 'RangeError',
      message: /Unknown callback service "AlertsService".*CarrierService/,
    });
  });
});
