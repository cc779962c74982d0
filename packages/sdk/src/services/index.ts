export {
  findService,
  isServiceName,
  SERVICE_NAMES,
  SERVICES,
  type ServiceCategory,
  type ServiceDescriptor,
  type ServiceName,
} from './catalogue.js';
