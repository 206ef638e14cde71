export * from './events';
export * from './streams';
export * from './subjects';
export * from './turn-reply';
export * from './api';
export * from './settings';
export * from './knowledge-base';
export * from './tenants';
