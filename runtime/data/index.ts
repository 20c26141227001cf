// Dataset records and the pieces every dataset constructor uses to make them: record shapes and
// field mapping (records.ts), prompts/pairs derived from documents (derive.ts), the seeded
// held-out split (split.ts). The constructors themselves (corpus, text, jsonl, json) are in
// runtime/sources/dataset-*.ts, and `loadDataset` in runtime/sources/index.ts.

export * from './records.ts';
export { shuffle, splitDataset, type SplitOptions } from './split.ts';
export { splitAfterWords, sentences, DEFAULT_PROMPT_WORDS } from './derive.ts';
