// The datasets package: loading and validating datasets, label rules, sampling, prompt
// templates, few-shot builders, answer scoring and the built-in demo dataset. Other folders
// import from here rather than from the individual modules.

export * from './records';
export { DatasetError, readTable, sha256Hex, TEXT_ENCODINGS, type DatasetErrorWhere, type FileFormat, type RawTable, type ReadOptions, type TextEncoding } from './read';
export { detectKind, describeKinds, isDatasetKind, normaliseNumber, normaliseRows, type NormalisedRows, type RawRow } from './kinds';
export * from './labels';
export * from './sample';
export * from './prompts';
export * from './fewshot';
export * from './score';
export * from './demo';
export * from './organism';
export * from './planted';
export { loadDataset, buildDataset, type LoadOptions } from './load';
export * from './tasks';
