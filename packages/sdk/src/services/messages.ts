import type { ServiceName } from './catalogue.js';

/**
 * One identifier of a device. The platform spells `kind` inconsistently (`iccid`, `Iccid`, `ICCID`),
 * so compare it case-insensitively.
 */
export interface DeviceId {
  id: string;
  kind: DeviceIdKind;
}

/** Identifier kinds seen across the platform; other spellings and kinds may arrive. */
export type DeviceIdKind =
  | 'esn'
  | 'meid'
  | 'imei'
  | 'iccid'
  | 'mdn'
  | 'min'
  | 'msisdn'
  | 'imsi'
  | 'eid'
  | 'otaid'
  | (string & {});

/** Failure details, present instead of `deviceResponse` when the operation failed. */
export interface FaultResponse {
  /** Service name + `.` + error code, e.g. `UnifiedWebService.REQUEST_FAILED.DeviceAlreadyActive`. */
  faultcode: string;
  faultstring: string;
}

/** Top-level `status` values; NIDD and eUICC use their own (see the service types). */
export type CallbackStatus =
  | 'Success'
  | 'Failed'
  | 'Delivered'
  | 'Queued'
  | 'DeliveryFailed'
  | 'ConfigCreated'
  | 'ConfigFailed'
  | (string & {});

/**
 * (Object types rather than interfaces throughout, so messages are assignable to `Record<string, unknown>`.)
 *
 * Keys the delivery engine sets on every attempt, whatever the producer sent: present on every
 * message a listener receives.
 */
export type DeliveryFields = {
  /** The username given at registration; `""` when none. */
  username: string;
  /** The password given at registration; `""` when none. */
  password: string;
  /** This attempt's number, from 1. */
  callbackCount: number;
  /** Most attempts the engine makes before giving up. */
  maxCallbackThreshold: number;
};

/** Fields common to every callback message (reference §3.1). */
export type CallbackEnvelope = DeliveryFields & {
  /** The id the synchronous API call returned; every per-device callback of one request shares it. */
  requestId?: string;
  /** The device the message is about; several identifiers of one device may appear. */
  deviceIds?: DeviceId[];
  deviceResponse?: object;
  faultResponse?: FaultResponse;
  status?: CallbackStatus;
  /** Free text, e.g. the auto-resume date of a ResumeTrackingNotification. */
  comment?: string;
};

/** A successful asynchronous result: one key under `deviceResponse` names the operation. */
export type SuccessResult<TResponse extends object> = {
  requestId: string;
  deviceIds: DeviceId[];
  deviceResponse: TResponse;
  faultResponse?: undefined;
  status: 'Success';
};

/** A failed asynchronous result (reference §3.3, verified shape). */
export type FailedResult = {
  requestId: string;
  deviceIds: DeviceId[];
  deviceResponse?: undefined;
  faultResponse: FaultResponse;
  status: 'Failed';
};

/** The success-or-fault shape shared by the asynchronous-response services. */
export type AsyncResult<TResponse extends object> = CallbackEnvelope & (SuccessResult<TResponse> | FailedResult);

/**
 * Contents of a response object whose fields are not documented anywhere: read it defensively.
 */
export type UndocumentedResponse = Record<string, unknown>;

// CarrierService

/** Result of an identifier change (verified shape). */
export interface ChangeIdentifierResponse {
  deviceIds: DeviceId[];
  servicePlan?: string;
}

/** Result of an activation. Inferred [I]: the key and its fields are a best guess. */
export interface ActivateResponse {
  state: string;
  servicePlan?: string;
}

/** `deviceResponse` of a CarrierService message: one key naming the operation. */
export interface CarrierServiceResponse {
  changeIdentifierResponse?: ChangeIdentifierResponse;
  activateResponse?: ActivateResponse;
  /** Other operations (suspend, restore, deactivate, service plan, custom fields, ...). */
  [operation: string]: object | undefined;
}

/**
 * CarrierService: per-device result of a state or metadata change. The identifier-change success
 * and the fault shapes are verified; the activation success is inferred [I].
 */
export type CarrierServiceMessage = AsyncResult<CarrierServiceResponse>;

// Services for which no shape was found (reference §3.10): envelope + `deviceResponse.<name>Response`.

/** DeviceService: availability, upload and order-status results. No shape found: inferred [I]. */
export type DeviceServiceMessage = AsyncResult<{ deviceServiceResponse: UndocumentedResponse }>;

/** DevicePRLInformation: PRL version of 2G/3G devices. No shape found: inferred [I]. */
export type DevicePRLInformationMessage = AsyncResult<{ devicePRLInformationResponse: UndocumentedResponse }>;

/** DeviceSuspensionStatus: suspension details. No shape found: inferred [I]. */
export type DeviceSuspensionStatusMessage = AsyncResult<{ deviceSuspensionStatusResponse: UndocumentedResponse }>;

/**
 * DeviceProfileService: eUICC profile results. No shape found: inferred [I]. The platform may send a
 * warning status first on timeout, then success or failure, so `status` is not limited to
 * `Success`/`Failed` here.
 */
export type DeviceProfileServiceMessage = CallbackEnvelope &
  (
    | SuccessResult<{ deviceProfileServiceResponse: UndocumentedResponse }>
    | FailedResult
    | {
        requestId: string;
        deviceIds: DeviceId[];
        deviceResponse?: { deviceProfileServiceResponse: UndocumentedResponse };
        status: Exclude<CallbackStatus, 'Success' | 'Failed'>;
      }
  );

/** StateService: go-to-state results. No shape found: inferred [I]. */
export type StateServiceMessage = AsyncResult<{ stateServiceResponse: UndocumentedResponse }>;

/** DiagnosticsService: SCEF awake/sleep state changes. No shape found: inferred [I]. */
export type DiagnosticsServiceMessage = AsyncResult<{ diagnosticsServiceResponse: UndocumentedResponse }>;

/** AlertService: a trigger condition fired. No shape found: inferred [I]. */
export type AlertServiceMessage = AsyncResult<{ alertServiceResponse: UndocumentedResponse }>;

/** SubscriptionNotificationService: throttling and usage notices. No shape found: inferred [I]. */
export type SubscriptionNotificationServiceMessage = AsyncResult<{
  subscriptionNotificationServiceResponse: UndocumentedResponse;
}>;

/** IntelligenceService: network intelligence notices. No shape found: inferred [I]. */
export type IntelligenceServiceMessage = AsyncResult<{ intelligenceServiceResponse: UndocumentedResponse }>;

// DeviceUsage

/** Aggregated usage over a period. Inferred [I]. */
export interface UsageResponse {
  startTime: string;
  endTime: string;
  /** Bytes. */
  dataUsage: number;
  /** Messages. */
  smsUsage: number;
}

/** DeviceUsage: aggregated usage after an aggregate usage request. Shape inferred [I]. */
export type DeviceUsageMessage = AsyncResult<{ usageResponse: UsageResponse }>;

// EnhancedConnectivityService

/**
 * EnhancedConnectivityService: an SMS a device sent to a platform short code. Shape inferred [I] from
 * the legacy and queued-SMS models; it carries no `requestId`.
 */
export type EnhancedConnectivityServiceMessage = CallbackEnvelope & {
  deviceIds: DeviceId[];
  /** The SMS text. */
  message: string;
  /** When the platform received the SMS (ISO 8601). */
  timestamp: string;
};

// SMSDeliveryConfirmation

export interface SmsDeliveryResponse {
  /** `Expired` when the network gave up after its 5-day retry window. */
  deliveryStatus: 'Delivered' | 'Expired' | (string & {});
}

/** SMSDeliveryConfirmation: the device acknowledged an SMS, or delivery expired. Shape inferred [I]. */
export type SMSDeliveryConfirmationMessage = AsyncResult<{ smsDeliveryResponse: SmsDeliveryResponse }>;

// ExternalProvisioningChanges

export interface CarrierInformation {
  carrierName: string;
  servicePlan: string;
  state: string;
}

export interface ExternalProvisioningChange {
  /** The tool used, e.g. a portal. */
  source: string;
  /** e.g. `Activate`, `Suspend`, `Restore`, `Deactivate`, `changeIMEI`, `changeICCID`. */
  change: string;
  deviceInfo: {
    accountName: string;
    carrierInformation: CarrierInformation[];
  };
}

/**
 * ExternalProvisioningChanges: provisioning done outside the API, OTA activation, IMEI change.
 * Shape inferred [I] from the legacy fields; `deviceIds` may be absent for activations.
 */
export type ExternalProvisioningChangesMessage = CallbackEnvelope & {
  requestId: string;
  deviceResponse: { externalProvisioningChange: ExternalProvisioningChange };
};

// PromoChanges

export interface PromoChange {
  /** The promotional code removed. */
  change: string;
  /** Date of the change (`YYYY-MM-DD`). */
  changeDate: string;
}

/** PromoChanges: a promotional code was removed during the billing cycle. Shape inferred [I]. */
export type PromoChangesMessage = CallbackEnvelope & {
  requestId: string;
  deviceIds: DeviceId[];
  deviceResponse: { promoChange: PromoChange };
};

// ResumeTrackingNotification

/**
 * ResumeTrackingNotification: a suspended device resumes automatically in 7 days; `comment` holds the
 * resume date. Shape inferred [I] from the legacy fields.
 */
export type ResumeTrackingNotificationMessage = CallbackEnvelope & {
  requestId: string;
  deviceIds: DeviceId[];
  comment: string;
};

// NiddService (verified shapes)

/** Uplink data from a device; `message` is base64 of the raw bytes. */
export interface NiddMONotificationResponse {
  accountName: string;
  message: string;
  deviceIds: DeviceId[];
}

/** Delivery report of downlink data. */
export interface NiddMTDeliveryResponse {
  accountName: string;
  deviceIds: DeviceId[];
  /** RFC 3339. */
  acknowledgeTime?: string;
  firstAttemptDeliveryTime?: string;
  /** e.g. `Buffered, device not reachable`, `Timeout, could not deliver data`. */
  reason?: string;
}

/** Result of a NIDD configuration; `deviceIds` may include an `EID`. */
export interface NiddConfigResponse {
  accountName: string;
  deviceIds: DeviceId[];
  /** e.g. `Not CatM or NBIoT Device`. */
  reason?: string;
}

/** NiddService: NIDD uplink data, downlink delivery reports and configuration results (verified shapes). */
export type NiddServiceMessage = CallbackEnvelope &
  (
    | { niddResponse: { niddMONotificationResponse: NiddMONotificationResponse } }
    | {
        niddResponse: { niddMTDeliveryResponse: NiddMTDeliveryResponse };
        status: 'Delivered' | 'Queued' | 'DeliveryFailed';
      }
    | {
        niddResponse: { niddConfigResponse: NiddConfigResponse };
        status: 'ConfigCreated' | 'ConfigFailed';
      }
  );

/** The message type of each service, by name. */
export interface CallbackMessageByService {
  CarrierService: CarrierServiceMessage;
  DeviceService: DeviceServiceMessage;
  DevicePRLInformation: DevicePRLInformationMessage;
  DeviceSuspensionStatus: DeviceSuspensionStatusMessage;
  DeviceUsage: DeviceUsageMessage;
  DeviceProfileService: DeviceProfileServiceMessage;
  StateService: StateServiceMessage;
  NiddService: NiddServiceMessage;
  DiagnosticsService: DiagnosticsServiceMessage;
  EnhancedConnectivityService: EnhancedConnectivityServiceMessage;
  SMSDeliveryConfirmation: SMSDeliveryConfirmationMessage;
  AlertService: AlertServiceMessage;
  ExternalProvisioningChanges: ExternalProvisioningChangesMessage;
  PromoChanges: PromoChangesMessage;
  ResumeTrackingNotification: ResumeTrackingNotificationMessage;
  SubscriptionNotificationService: SubscriptionNotificationServiceMessage;
  IntelligenceService: IntelligenceServiceMessage;
}

/** A message as a listener receives it: the service's type, or any service's when the service is not known. */
export type CallbackMessage<S extends ServiceName = ServiceName> = CallbackMessageByService[S];

/**
 * What a producer publishes: the message without the keys the delivery engine sets (they may be given,
 * the engine overwrites them).
 */
export type CallbackPayload<S extends ServiceName = ServiceName> = WithoutDeliveryFields<CallbackMessageByService[S]>;

/** Distributes over unions, so success/fault variants stay distinct. */
type WithoutDeliveryFields<T> = T extends unknown ? Omit<T, keyof DeliveryFields> & Partial<DeliveryFields> : never;
