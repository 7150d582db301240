/**
 * The llama2.c tokenizer (`tokenizer.bin`, `tok512.bin`, ...): a SentencePiece BPE vocabulary
 * flattened by llama2.c's tokenizer.py into
 *
 *   int32 max_token_length, then per token: float32 score, int32 byte length, the bytes.
 *
 * The file does not store the token count (run.c takes it from the model header), so we read
 * entries until the end of the file. Ids 0, 1, 2 are <unk>, BOS, EOS and ids 3..258 the byte
 * pieces `<0x00>`..`<0xFF>` (SentencePiece byte fallback), which encoding relies on.
 *
 * encode/decode reproduce run.c's `encode()` / `decode()` so that prompts tokenize exactly as
 * they do for llama2.c itself; that is what makes the golden generations comparable.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, type Tokenizer } from '../checkpoint';

const BOS_ID = 1;
const EOS_ID = 2;
/** Byte b is token BYTE_OFFSET + b (run.c's "+3"). */
const BYTE_OFFSET = 3;
/** run.c starts its best-merge search at -1e10, so merges scored at or below it never apply. */
const NO_MERGE_SCORE = -1e10;

export class Llama2cTokenizer implements Tokenizer {
  readonly bosId = BOS_ID;
  readonly eosIds = [EOS_ID];
  readonly vocabSize: number;
  /**
   * Pieces as "binary strings" (one char per byte, code 0..255), so that concatenating and
   * looking up pieces compares raw bytes exactly like run.c's strcmp, even for pieces that are
   * partial UTF-8.
   */
  private readonly pieceBytes: string[];
  /** Piece bytes -> id; the first id wins for duplicate pieces. */
  private readonly lookup = new Map<string, number>();

  constructor(
    pieces: Uint8Array[],
    /** Merge priority of each token (float32 values, as run.c compares them). */
    readonly scores: Float32Array,
    /** Absolute path of the file it was read from. */
    readonly source: string,
  ) {
    this.vocabSize = pieces.length;
    this.pieceBytes = pieces.map((p) => latin1(p));
    this.pieceBytes.forEach((p, id) => {
      if (!this.lookup.has(p)) this.lookup.set(p, id);
    });
  }

  /** The raw piece bytes of a token as stored in the file (e.g. `<0x0A>`, `\n<s>\n`, ` the`). */
  piece(id: number): Uint8Array {
    this.checkId(id);
    return Uint8Array.from(this.pieceBytes[id], (c) => c.charCodeAt(0));
  }

  /**
   * run.c `encode()`: optional BOS; a dummy-prefix space when the text is non-empty; each UTF-8
   * codepoint as its own token, or its bytes as byte tokens when the codepoint is not in the
   * vocabulary; then repeatedly merge the adjacent pair whose concatenation is the
   * highest-scoring vocabulary piece (leftmost on ties) until no pair merges.
   */
  encode(text: string, opts?: { addBos?: boolean }): number[] {
    const bytes = new TextEncoder().encode(text);
    const tokens: number[] = [];
    if (bytes.length > 0) tokens.push(this.lookup.get(' ') ?? BYTE_OFFSET + 0x20);

    // Split into codepoints the way run.c does: a run of at most 4 bytes starting at a
    // non-continuation byte. Invalid UTF-8 cannot come out of TextEncoder, but the same
    // rules keep us byte-identical to run.c anyway.
    let start = 0;
    while (start < bytes.length) {
      let end = start + 1;
      while (end < bytes.length && (bytes[end] & 0xc0) === 0x80 && end - start < 4) end++;
      const cp = bytes.subarray(start, end);
      const id = this.lookup.get(latin1(cp));
      if (id !== undefined) tokens.push(id);
      else for (const b of cp) tokens.push(BYTE_OFFSET + b);
      start = end;
    }

    for (;;) {
      let bestScore = NO_MERGE_SCORE;
      let bestId = -1;
      let bestIdx = -1;
      for (let i = 0; i + 1 < tokens.length; i++) {
        const id = this.lookup.get(this.pieceBytes[tokens[i]] + this.pieceBytes[tokens[i + 1]]);
        if (id !== undefined && this.scores[id] > bestScore) {
          bestScore = this.scores[id];
          bestId = id;
          bestIdx = i;
        }
      }
      if (bestIdx < 0) break;
      tokens.splice(bestIdx, 2, bestId);
    }

    return opts?.addBos ? [BOS_ID, ...tokens] : tokens;
  }

  /**
   * run.c `decode()` over a whole sequence: a piece right after BOS loses its leading space
   * (SentencePiece's dummy prefix), byte pieces `<0xXX>` become that byte, and the collected
   * bytes are decoded as UTF-8 together so multi-byte characters split over byte tokens come
   * out whole. BOS and EOS are control tokens and produce no text (run.c never prints them).
   */
  decode(ids: number[]): string {
    const out: number[] = [];
    let prev = -1;
    for (const id of ids) {
      this.checkId(id);
      if (id !== BOS_ID && id !== EOS_ID) {
        let p = this.pieceBytes[id];
        if (prev === BOS_ID && p.startsWith(' ')) p = p.slice(1);
        const byte = parseBytePiece(p);
        if (byte !== undefined) out.push(byte);
        else for (let i = 0; i < p.length; i++) out.push(p.charCodeAt(i));
      }
      prev = id;
    }
    return new TextDecoder().decode(Uint8Array.from(out));
  }

  /**
   * One token's text in isolation, i.e. `decode([id])`: the piece as UTF-8 with byte pieces
   * turned into their byte, "" for BOS/EOS. A lone non-ASCII byte token is not valid UTF-8 on
   * its own and yields U+FFFD; decode the whole sequence when exact text matters.
   */
  tokenText(id: number): string {
    return this.decode([id]);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`token id ${id} is outside the tokenizer's vocabulary [0, ${this.vocabSize}) (${this.source})`);
    }
  }
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** The byte a piece like `<0x0A>` stands for, or undefined for any other piece. */
function parseBytePiece(p: string): number | undefined {
  const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
  return m ? parseInt(m[1], 16) : undefined;
}

/**
 * Reads a llama2.c tokenizer file. When `vocabSize` is given (the model's vocab_size), the file
 * must hold exactly that many tokens: run.c would silently read a prefix of a larger file or
 * garbage past a smaller one, and either way the model's ids would map to the wrong text.
 */
export function readLlama2cTokenizer(file: string, vocabSize?: number): Llama2cTokenizer {
  const source = path.resolve(file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(source);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err?.code === 'ENOENT' ? 'no such file' : err?.code === 'EISDIR' ? 'is a directory' : (err?.message ?? String(e));
    throw new CheckpointError(source, `cannot read llama2.c tokenizer: ${why}`);
  }
  const fail = (msg: string): never => {
    throw new CheckpointError(source, msg);
  };
  if (buf.length < 4) fail(`file is ${buf.length} bytes, too short for a llama2.c tokenizer (int32 max_token_length, then tokens)`);

  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1 << 16) {
    fail(`implausible max_token_length ${maxTokenLength} in the header; not a llama2.c tokenizer file`);
  }

  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let off = 4;
  while (off < buf.length) {
    const id = pieces.length;
    if (off + 8 > buf.length) {
      fail(`truncated llama2.c tokenizer: token ${id}'s score and length need 8 bytes at offset ${off} but only ${buf.length - off} remain`);
    }
    const score = view.getFloat32(off, true);
    const len = view.getInt32(off + 4, true);
    off += 8;
    // tokenizer.py writes max_token_length as the longest piece, so a longer one means the
    // bytes are not a tokenizer (e.g. a model .bin passed by mistake).
    if (len < 0 || len > maxTokenLength) {
      fail(`corrupt llama2.c tokenizer: token ${id} has length ${len}, outside [0, max_token_length ${maxTokenLength}]`);
    }
    if (off + len > buf.length) {
      fail(`truncated llama2.c tokenizer: token ${id} needs ${len} bytes at offset ${off} but only ${buf.length - off} remain`);
    }
    pieces.push(new Uint8Array(buf.subarray(off, off + len)));
    scores.push(score);
    off += len;
  }

  if (vocabSize !== undefined && pieces.length !== vocabSize) {
    fail(`tokenizer mismatch: tokenizer has ${pieces.length} tokens, model expects ${vocabSize}; use the tokenizer the model was trained with`);
  }
  // Encoding falls back to ids 3 + byte, so those ids must really be the byte pieces.
  if (pieces.length < BYTE_OFFSET + 256) {
    fail(`llama2.c tokenizer has only ${pieces.length} tokens; expected at least ${BYTE_OFFSET + 256} (<unk>, <s>, </s> and 256 byte pieces)`);
  }
  for (let b = 0; b < 256; b++) {
    const expected = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    if (latin1(pieces[BYTE_OFFSET + b]) !== expected) {
      fail(`llama2.c tokenizer token ${BYTE_OFFSET + b} is ${JSON.stringify(latin1(pieces[BYTE_OFFSET + b]))}, expected the byte piece ${expected}; byte fallback would produce wrong ids`);
    }
  }
  return new Llama2cTokenizer(pieces, Float32Array.from(scores), source);
}
