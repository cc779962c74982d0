/**
 * Every callback service of the platform (reference §2.1), in the platform's order.
 * The server validates registrations against it, the SDK types messages by it and the
 * simulator draws examples from it: one source of truth for service names.
 */
export const SERVICES = [
  {
    name: 'CarrierService',
    category: 'async response',
    description:
      'Per-device result of state and metadata changes: activate, suspend, restore, deactivate, service plan, identifier and custom-field changes; SIM Secure assign/unassign.',
  },
  {
    name: 'DeviceService',
    category: 'async response',
    description: 'Results of device availability checks, device uploads and order-status checks.',
  },
  {
    name: 'DevicePRLInformation',
    category: 'async response',
    description: 'Current PRL version of 2G/3G devices after a PRL list request.',
  },
  {
    name: 'DeviceSuspensionStatus',
    category: 'async response',
    description: 'Suspension details after a suspension status request.',
  },
  {
    name: 'DeviceUsage',
    category: 'async response',
    description: 'Aggregated usage after an aggregate usage request.',
  },
  {
    name: 'DeviceProfileService',
    category: 'async response',
    description:
      'eUICC profile download, enable, disable and delete results; may first send a warning status on timeout.',
  },
  {
    name: 'StateService',
    category: 'async response',
    description: 'Results of moving devices to customer-defined states (go-to-state).',
  },
  {
    name: 'NiddService',
    category: 'async response + device data',
    description: 'NB-IoT NIDD configuration results, downlink delivery reports and uplink data from devices.',
  },
  {
    name: 'DiagnosticsService',
    category: 'async response',
    description: 'SCEF device registration and monitoring: awake/sleep state changes.',
  },
  {
    name: 'EnhancedConnectivityService',
    category: 'device message + async response',
    description:
      'SMS sent by devices to the platform short codes, and notice that an SMS sent through the API left the network.',
  },
  {
    name: 'SMSDeliveryConfirmation',
    category: 'async response',
    description:
      'The device received and acknowledged an SMS sent through the API, or the 5-day network retry window expired.',
  },
  {
    name: 'AlertService',
    category: 'notification',
    description: 'A trigger condition such as a usage threshold fired.',
  },
  {
    name: 'ExternalProvisioningChanges',
    category: 'notification',
    description:
      'Provisioning done outside the API (portal or carrier systems), OTA activation confirmations and IMEI changes.',
  },
  {
    name: 'PromoChanges',
    category: 'notification',
    description: 'A promotional code was removed during the billing cycle.',
  },
  {
    name: 'ResumeTrackingNotification',
    category: 'notification',
    description: 'Warning 7 days before a suspended device resumes automatically.',
  },
  {
    name: 'SubscriptionNotificationService',
    category: 'notification',
    description: 'Data is about to be partially or fully throttled; usage threshold notices.',
  },
  {
    name: 'IntelligenceService',
    category: 'notification',
    description:
      'Network intelligence: network conditions, coverage, fixed-wireless coverage, site proximity and device experience score.',
  },
] as const;

/** A catalogue entry. */
export type ServiceDescriptor = (typeof SERVICES)[number];

/** One of the 17 callback service names, e.g. `'CarrierService'`. */
export type ServiceName = ServiceDescriptor['name'];

/** The service categories used by the catalogue. */
export type ServiceCategory = ServiceDescriptor['category'];

/** Every service name, in catalogue order. */
export const SERVICE_NAMES: readonly ServiceName[] = SERVICES.map((service) => service.name);

const serviceNameSet: ReadonlySet<string> = new Set(SERVICE_NAMES);

/** True when `name` is a catalogue service name (exact, case-sensitive match as the platform requires). */
export function isServiceName(name: unknown): name is ServiceName {
  return typeof name === 'string' && serviceNameSet.has(name);
}

/** The catalogue entry for `name`, or `undefined` for an unknown name. */
export function findService(name: string): ServiceDescriptor | undefined {
  return SERVICES.find((service) => service.name === name);
}
