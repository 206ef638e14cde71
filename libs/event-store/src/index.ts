export * from './database';
export * from './errors';
export * from './event-store';
export * from './log-reader';
export * from './erasure';
export * from './data-keys';
export * from './personal-data';
export * from './session-projection.repository';
export * as schema from './schema';
