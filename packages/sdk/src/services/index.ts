export {
  findService,
  isServiceName,
  SERVICE_NAMES,
  SERVICES,
  type ServiceCategory,
  type ServiceDescriptor,
  type ServiceName,
} from './catalogue.js';
export { type ExampleMessageOptions, exampleMessage, examplePayload } from './examples.js';
export type * from './messages.js';
