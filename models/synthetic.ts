/**
 * Building blocks of the generated checkpoints (the demo model, the tiny huginn): one Gaussian
 * stream per tensor (over the shared seeded PRNG), and a byte-level BPE tokenizer.json. Everything is integer or
 * fdlibm arithmetic, so the same options give byte-identical files on any machine.
 */
import * as fs from 'node:fs';
import { mulberry32, normalStream } from './common/prng';

/**
 * Standard normal samples (Box–Muller, both outputs used) from a stream keyed by the seed and
 * the tensor's name (FNV-1a), so changing one option leaves the other tensors unchanged.
 */
export function seededGaussian(seed: number, name: string): () => number {
  let h = 0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return normalStream(mulberry32(h >>> 0));
}

/** GPT-2's byte → printable-character table that byte-level BPE vocabularies are written in. */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
}

/**
 * A byte-level BPE tokenizer.json with no merges: byte b is token `byteOffset + b`, plus the
 * special tokens. Field sets mirror what the Rust `tokenizers` library serialises, so Python
 * loads the file too.
 */
export function byteLevelTokenizerJson(o: {
  specials: [content: string, id: number][];
  byteOffset: number;
  postProcessor?: Record<string, unknown> | null;
}): Record<string, unknown> {
  const entries: [string, number][] = [...o.specials, ...bytesToUnicode().map((c, b): [string, number] => [c, o.byteOffset + b])];
  entries.sort((a, b) => a[1] - b[1]);
  const vocab: Record<string, number> = {};
  for (const [c, id] of entries) vocab[c] = id;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: o.specials.map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: o.postProcessor ?? null,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
}

export function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}
