export * from './database';
export * from './errors';
export * from './event-store';
export * from './log-reader';
export * from './session-projection.repository';
export * as schema from './schema';
