/** The protocol and the plain result types, for importers that want one entry point. */
export * from './requests';
export * from './results';
export * from './workspace';
