/** The protocol, the jobs and the result schemas, for importers that want one entry point. */
export * from './requests';
export * from './jobs';
export * from './argv';
export * from './results';
export * from './workspace';
