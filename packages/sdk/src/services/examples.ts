import { randomInt, randomUUID } from 'node:crypto';
import { isServiceName, SERVICE_NAMES, type ServiceName } from './catalogue.js';
import type {
  CallbackMessageByService,
  CallbackPayload,
  CarrierServiceMessage,
  DeliveryFields,
  DeviceId,
  NiddServiceMessage,
} from './messages.js';

/** Options of {@link exampleMessage}. */
export interface ExampleMessageOptions {
  /** Account named inside payloads that carry one (NIDD, external provisioning). */
  accountName?: string;
}

const DEFAULT_ACCOUNT = '0000123456-00001';
const SERVICE_PLANS = ['M2M_4G_5GB', 'M2M_4G_1GB', 'IOT_CATM_100MB', 'NBIOT_10MB'] as const;

/**
 * A realistic, freshly generated message for `serviceName`: new request id, device identifiers and
 * timestamps on every call. It is what a producer publishes; the delivery-owned keys (`username`,
 * `password`, `callbackCount`, `maxCallbackThreshold`) hold first-attempt placeholders that the
 * engine overwrites.
 *
 * @throws RangeError when `serviceName` is not in {@link SERVICES}.
 */
export function exampleMessage<S extends ServiceName>(
  serviceName: S,
  options: ExampleMessageOptions = {},
): CallbackMessageByService[S] {
  if (!isServiceName(serviceName)) {
    throw new RangeError(
      `Unknown callback service "${String(serviceName)}"; expected one of: ${SERVICE_NAMES.join(', ')}`,
    );
  }
  const build: ExampleBuilders[S] = builders[serviceName];
  return build(new ExampleDevice(), options.accountName ?? DEFAULT_ACCOUNT);
}

/**
 * {@link exampleMessage} without the keys the delivery engine sets (`username`, `password`,
 * `callbackCount`, `maxCallbackThreshold`): what a producer publishes, as `ccb simulate` and the
 * portal's test message do.
 *
 * @throws RangeError when `serviceName` is not in {@link SERVICES}.
 */
export function examplePayload<S extends ServiceName>(
  serviceName: S,
  options: ExampleMessageOptions = {},
): CallbackPayload<S> {
  const {
    username: _u,
    password: _p,
    callbackCount: _c,
    maxCallbackThreshold: _m,
    ...payload
  } = exampleMessage(serviceName, options) as DeliveryFields & Record<string, unknown>;
  return payload as CallbackPayload<S>;
}

type ExampleBuilders = {
  [S in ServiceName]: (device: ExampleDevice, accountName: string) => CallbackMessageByService[S];
};

/** First-attempt placeholders of the keys the delivery engine sets. */
function deliveryPlaceholders(): DeliveryFields {
  return { username: '', password: '', callbackCount: 1, maxCallbackThreshold: 4 };
}

const builders: ExampleBuilders = {
  CarrierService: (device) => (pick([true, false]) ? carrierActivation(device) : carrierIdentifierChange(device)),

  DeviceService: (device) =>
    success(device.ids('iccid', 'imei'), {
      deviceServiceResponse: {
        action: 'availability',
        available: true,
        carrierName: 'Verizon Wireless',
        deviceIds: device.ids('iccid', 'imei'),
      },
    }),

  DevicePRLInformation: (device) =>
    success(device.ids('meid'), { devicePRLInformationResponse: { prlVersion: `5${digits(4)}` } }),

  DeviceSuspensionStatus: (device) => {
    const suspendedDaysAgo = randomInt(1, 90);
    return success(device.ids('iccid', 'mdn'), {
      deviceSuspensionStatusResponse: {
        state: 'suspend',
        suspendDate: isoDate(daysFromNow(-suspendedDaysAgo)),
        autoResumeDate: isoDate(daysFromNow(180 - suspendedDaysAgo)),
        suspendedDays: suspendedDaysAgo,
      },
    });
  },

  DeviceUsage: (device) => {
    const now = new Date();
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
    const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - 1000);
    return success(device.ids('iccid'), {
      usageResponse: {
        startTime: isoSeconds(start),
        endTime: isoSeconds(end),
        dataUsage: randomInt(1_000, 5_000_000_000),
        smsUsage: randomInt(0, 500),
      },
    });
  },

  DeviceProfileService: (device) =>
    success(device.ids('eid', 'iccid'), {
      deviceProfileServiceResponse: {
        action: pick(['download', 'enable', 'disable', 'delete']),
        iccid: device.iccid,
        profileStatus: 'Complete',
      },
    }),

  StateService: (device) =>
    success(device.ids('iccid', 'imei'), {
      stateServiceResponse: { stateName: pick(['Ready', 'In Service', 'Retired']), servicePlan: pick(SERVICE_PLANS) },
    }),

  NiddService: (device, accountName) => niddExample(device, accountName),

  DiagnosticsService: (device) =>
    success(device.ids('imei', 'imsi'), {
      diagnosticsServiceResponse: {
        event: 'ue-reachability',
        deviceState: pick(['Awake', 'Sleep']),
        eventTime: new Date().toISOString(),
      },
    }),

  EnhancedConnectivityService: (device) => ({
    ...deliveryPlaceholders(),
    deviceIds: device.ids('mdn', 'imei'),
    message: `T=${(randomInt(-200, 400) / 10).toFixed(1)}C BAT=${randomInt(5, 101)} GPS=${latitude()},${longitude()}`,
    timestamp: new Date().toISOString(),
  }),

  SMSDeliveryConfirmation: (device) =>
    success(device.ids('mdn'), {
      smsDeliveryResponse: { deliveryStatus: randomInt(10) === 0 ? 'Expired' : 'Delivered' },
    }),

  AlertService: (device) => {
    const thresholdBytes = pick([1, 5, 10]) * 1024 ** 3;
    return success(device.ids('iccid', 'mdn'), {
      alertServiceResponse: {
        triggerName: 'Data usage over 80% of plan',
        triggerType: 'DataUsage',
        thresholdBytes,
        usageBytes: Math.round(thresholdBytes * (0.8 + randomInt(0, 20) / 100)),
        triggeredAt: new Date().toISOString(),
      },
    });
  },

  ExternalProvisioningChanges: (device, accountName) => {
    const change = pick(['Activate', 'Suspend', 'Restore', 'Deactivate', 'changeIMEI'] as const);
    const state = {
      Activate: 'active',
      Suspend: 'suspend',
      Restore: 'active',
      Deactivate: 'deactive',
      changeIMEI: 'active',
    }[change];
    return {
      ...deliveryPlaceholders(),
      requestId: randomUUID(),
      deviceIds: device.ids('iccid', 'imei'),
      deviceResponse: {
        externalProvisioningChange: {
          source: pick(['ThingSpace Manage portal', 'Verizon customer care']),
          change,
          deviceInfo: {
            accountName,
            carrierInformation: [{ carrierName: 'Verizon Wireless', servicePlan: pick(SERVICE_PLANS), state }],
          },
        },
      },
    };
  },

  PromoChanges: (device) => ({
    ...deliveryPlaceholders(),
    requestId: randomUUID(),
    deviceIds: device.ids('mdn'),
    deviceResponse: {
      promoChange: {
        change: pick(['PROMO-IOT-FREE90', 'PROMO-M2M-HALFOFF', 'PROMO-CATM-6MO']),
        changeDate: isoDate(new Date()),
      },
    },
  }),

  ResumeTrackingNotification: (device) => ({
    ...deliveryPlaceholders(),
    requestId: randomUUID(),
    deviceIds: device.ids('mdn'),
    comment: `Device will be auto resumed on - ${isoDate(daysFromNow(7))}T00:00:00Z`,
  }),

  SubscriptionNotificationService: (device) =>
    success(device.ids('iccid', 'mdn'), {
      subscriptionNotificationServiceResponse: {
        notification: pick(['PartialThrottle', 'FullThrottle', 'UsageThreshold']),
        usagePercent: randomInt(80, 101),
        servicePlan: pick(SERVICE_PLANS),
        billingCycleEnd: isoDate(daysFromNow(randomInt(1, 30))),
      },
    }),

  IntelligenceService: (device) =>
    success(device.ids('imei', 'mdn'), {
      intelligenceServiceResponse: {
        insight: pick(['NetworkConditions', 'Coverage', 'FwaCoverage', 'SiteProximity', 'DeviceExperienceScore']),
        experienceScore: randomInt(0, 101),
        location: { latitude: latitude(), longitude: longitude() },
        observedAt: new Date().toISOString(),
      },
    }),
};

/** The success shape shared by the asynchronous-response services. */
function success<TResponse extends object>(deviceIds: DeviceId[], deviceResponse: TResponse) {
  return {
    ...deliveryPlaceholders(),
    requestId: randomUUID(),
    deviceIds,
    deviceResponse,
    status: 'Success' as const,
  };
}

function carrierActivation(device: ExampleDevice): CarrierServiceMessage {
  return success([...device.ids('iccid', 'imei', 'mdn'), { id: `1${device.mdn}`, kind: 'msisdn' }], {
    activateResponse: { state: 'active', servicePlan: pick(SERVICE_PLANS) },
  });
}

function carrierIdentifierChange(device: ExampleDevice): CarrierServiceMessage {
  return success(device.ids('meid'), {
    changeIdentifierResponse: { deviceIds: device.ids('iccid'), servicePlan: pick(SERVICE_PLANS) },
  });
}

function niddExample(device: ExampleDevice, accountName: string): NiddServiceMessage {
  const base = { ...deliveryPlaceholders(), requestId: randomUUID() };
  const ids = [
    { id: device.imei, kind: 'IMEI' },
    { id: device.imsi, kind: 'IMSI' },
    { id: device.mdn, kind: 'MDN' },
    { id: device.iccid, kind: 'ICCID' },
  ];
  switch (randomInt(3)) {
    case 0:
      return {
        ...base,
        deviceIds: [{ id: device.imei, kind: 'IMEI' }],
        niddResponse: {
          niddMONotificationResponse: {
            accountName,
            message: Buffer.from(Array.from({ length: randomInt(4, 33) }, () => randomInt(256))).toString('base64'),
            deviceIds: ids,
          },
        },
      };
    case 1: {
      const delivered = randomInt(4) !== 0;
      const firstAttempt = new Date(Date.now() - randomInt(1_000, 60_000));
      return {
        ...base,
        deviceIds: [{ id: device.imei, kind: 'IMEI' }],
        niddResponse: {
          niddMTDeliveryResponse: delivered
            ? {
                accountName,
                deviceIds: ids,
                firstAttemptDeliveryTime: firstAttempt.toISOString(),
                acknowledgeTime: new Date().toISOString(),
              }
            : { accountName, deviceIds: ids, reason: 'Buffered, device not reachable' },
        },
        status: delivered ? 'Delivered' : 'Queued',
      };
    }
    default:
      // The platform's config result carries its device ids inside the NIDD object only.
      return {
        ...base,
        niddResponse: { niddConfigResponse: { accountName, deviceIds: [...ids, { id: device.eid, kind: 'EID' }] } },
        status: 'ConfigCreated',
      };
  }
}

/** A made-up device with consistent, valid-looking identifiers. */
class ExampleDevice {
  /** 20 digits: Verizon's issuer prefix 8914800000, 9 random digits, Luhn check digit. */
  readonly iccid = withLuhn(`8914800000${digits(9)}`);
  /** 15 digits: a type allocation code, a serial number, Luhn check digit. */
  readonly imei = withLuhn(`35${digits(12)}`);
  /** 10-digit North American number: area code and exchange do not start with 0 or 1. */
  readonly mdn = `${randomInt(2, 10)}${digits(2)}${randomInt(2, 10)}${digits(6)}`;
  /** 15 digits: Verizon's MCC-MNC 311-480 and a subscriber number. */
  readonly imsi = `311480${digits(9)}`;
  /** 14 hex digits. */
  readonly meid = `A1${Array.from({ length: 12 }, () => randomInt(16).toString(16).toUpperCase()).join('')}`;
  /** 32 digits whose value mod 97 is 1, as eUICC ids are checked. */
  readonly eid = withMod97(`89049032${digits(22)}`);

  ids(...kinds: Array<'iccid' | 'imei' | 'mdn' | 'imsi' | 'meid' | 'eid'>): DeviceId[] {
    return kinds.map((kind) => ({ id: this[kind], kind }));
  }
}

function digits(count: number): string {
  return Array.from({ length: count }, () => randomInt(10)).join('');
}

function withLuhn(partial: string): string {
  let sum = 0;
  for (let i = 0; i < partial.length; i++) {
    // Doubling starts at the rightmost digit of the partial number, which sits left of the check digit.
    let digit = Number(partial[partial.length - 1 - i]);
    if (i % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return `${partial}${(10 - (sum % 10)) % 10}`;
}

function withMod97(partial: string): string {
  const check = 98n - ((BigInt(partial) * 100n) % 97n);
  return `${partial}${check.toString().padStart(2, '0')}`;
}

function pick<T>(choices: readonly T[]): T {
  return choices[randomInt(choices.length)];
}

function daysFromNow(days: number): Date {
  return new Date(Date.now() + days * 86_400_000);
}

function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function latitude(): string {
  return (randomInt(25_000_000, 49_000_000) / 1_000_000).toFixed(4);
}

function longitude(): string {
  return (-randomInt(70_000_000, 124_000_000) / 1_000_000).toFixed(4);
}
