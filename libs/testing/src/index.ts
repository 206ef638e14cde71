export * from './test-database';
export * from './test-nats';
export * from './wait-for';
