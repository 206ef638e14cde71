export * from './text-features';
export * from './intent-classifier';
export * from './csv';
export * from './calibration';
export * from './knowledge-base';
export * from './faq-matcher';
export * from './matcher-format';
