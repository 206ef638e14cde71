export * from './errors';
export * from './nats-connection';
export * from './topology';
export * from './event-publisher';
export * from './jetstream.transport';
export * from './turn-replies';
export * from './health';
