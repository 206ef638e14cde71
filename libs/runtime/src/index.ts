// What the runtime offers the apps, by name.
export { type Connections, openResources, type Resources, shareBus, tenantDirectory } from './resources';
export { InfrastructureModule, RESOURCES } from './infrastructure.module';
export { afterShutdown, exitOnStartupFailure, onShutdown, runWorker, serviceStarted } from './process';
export { appendOnce, recordOnce } from './append-once';
export { TenantMatchers } from './tenant-matchers';
export { type LogContext } from './logging';
export { Metrics } from './metrics';
