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
  /**
   * Every mergeable pair: `left * vocabSize + right` → the id of the piece their concatenation
   * spells (what run.c finds by looking the concatenated string up). Built once by splitting
   * each piece at every position, so encoding compares integers instead of building strings.
   */
  private readonly merges = new Map<number, number>();
  /** The id of the one-byte piece of each byte value, or -1 (then byte fallback). */
  private readonly singleByte = new Int32Array(256).fill(-1);
  /** Each token's score as its rank among the distinct scores (equal scores, equal ranks). */
  private readonly scoreRank: Int32Array;

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
    for (let b = 0; b < 256; b++) this.singleByte[b] = this.lookup.get(String.fromCharCode(b)) ?? -1;
    const distinct = [...new Set(scores)].sort((x, y) => x - y);
    const rankOf = new Map(distinct.map((v, r) => [v, r]));
    this.scoreRank = Int32Array.from(scores, (v) => rankOf.get(v)!);
    const idsOf = new Map<string, number[]>();
    this.pieceBytes.forEach((p, id) => idsOf.set(p, [...(idsOf.get(p) ?? []), id]));
    for (const [piece, merged] of this.lookup) {
      if (!(scores[merged] > NO_MERGE_SCORE)) continue;
      for (let k = 1; k < piece.length; k++) {
        const lefts = idsOf.get(piece.slice(0, k));
        const rights = lefts && idsOf.get(piece.slice(k));
        if (!rights) continue;
        for (const a of lefts!) for (const b of rights) this.merges.set(a * this.vocabSize + b, merged);
      }
    }
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
      // One-byte code points (nearly all of most text) through a table instead of a string lookup.
      const id = end - start === 1 ? this.singleByte[bytes[start]] : this.lookup.get(latin1(bytes.subarray(start, end)));
      if (id !== undefined && id >= 0) tokens.push(id);
      else for (let b = start; b < end; b++) tokens.push(BYTE_OFFSET + bytes[b]);
      start = end;
    }

    const merged = this.mergePairs(tokens);
    return opts?.addBos ? [BOS_ID, ...merged] : merged;
  }

  /**
   * run.c's merge loop — repeatedly merge the adjacent pair whose concatenation is the
   * highest-scoring piece, leftmost on ties — in O(n log n) instead of run.c's O(n²): a max-heap
   * holds every mergeable adjacent pair keyed by (score, position), tokens live in a linked list,
   * and a merge pushes only the two pairs it creates. Entries made stale by a merge are skipped
   * when popped (each node carries a version). Positions are the index of a node's first
   * original token, which orders pairs left to right exactly like run.c's scan, so the result is
   * identical (tested against the quadratic loop); 1 MB of text takes well under a second.
   */
  private mergePairs(tokens: number[]): number[] {
    const n = tokens.length;
    if (n < 2) return tokens;
    const tok = Int32Array.from(tokens);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const version = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    // Each merge removes a node and adds at most two pairs: 3n entries always suffice.
    const cap = 3 * n;
    const eLeft = new Int32Array(cap);
    const eRight = new Int32Array(cap);
    const eLeftVer = new Int32Array(cap);
    const eRightVer = new Int32Array(cap);
    const eId = new Int32Array(cap);
    let entries = 0;
    const heap = new MaxHeap(cap);
    const V = this.vocabSize;
    const consider = (left: number, initial = false) => {
      const right = next[left];
      if (left < 0 || right < 0) return;
      const id = this.merges.get(tok[left] * V + tok[right]);
      if (id === undefined) return;
      const e = entries++;
      eLeft[e] = left;
      eRight[e] = right;
      eLeftVer[e] = version[left];
      eRightVer[e] = version[right];
      eId[e] = id;
      // Higher score first, then the leftmost pair: one number orders both.
      const key = this.scoreRank[id] * POSITION_SPAN + (POSITION_SPAN - 1 - left);
      if (initial) heap.add(key, e);
      else heap.push(key, e);
    };
    for (let i = 0; i + 1 < n; i++) consider(i, true);
    heap.heapify();
    while (heap.size > 0) {
      const e = heap.pop();
      const left = eLeft[e];
      const right = eRight[e];
      // Stale: one of the two was merged away or changed since this pair was pushed.
      if (next[left] !== right || version[left] !== eLeftVer[e] || version[right] !== eRightVer[e]) continue;
      tok[left] = eId[e];
      version[left]++;
      version[right]++;
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      if (prev[left] >= 0) consider(prev[left]);
      consider(left);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(tok[i]);
    return out;
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

/** Positions are below this (2^27 tokens, a 100 MB prompt), so rank·SPAN + position stays exact in a double. */
const POSITION_SPAN = 2 ** 27;

/**
 * A 4-ary max-heap of (key, entry) in preallocated typed arrays: a 1 MB prompt means millions of
 * entries, and four children per node halve the depth (and the cache misses) of a binary heap.
 */
class MaxHeap {
  private readonly keys: Float64Array;
  private readonly ents: Int32Array;
  size = 0;

  constructor(capacity: number) {
    this.keys = new Float64Array(capacity);
    this.ents = new Int32Array(capacity);
  }

  /** Appends without ordering; call heapify() before the first pop. */
  add(key: number, ent: number): void {
    this.keys[this.size] = key;
    this.ents[this.size++] = ent;
  }

  /** Orders everything added so far, in O(n). */
  heapify(): void {
    for (let i = (this.size - 2) >> 2; i >= 0; i--) this.siftDown(i, this.keys[i], this.ents[i], this.size);
  }

  push(key: number, ent: number): void {
    const { keys, ents } = this;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 2;
      if (keys[p] >= key) break;
      keys[i] = keys[p];
      ents[i] = ents[p];
      i = p;
    }
    keys[i] = key;
    ents[i] = ent;
  }

  /** Removes and returns the entry with the largest key. */
  pop(): number {
    const top = this.ents[0];
    const last = --this.size;
    if (last > 0) this.siftDown(0, this.keys[last], this.ents[last], last);
    return top;
  }

  /** Places (key, ent) at i or below, in a heap of `size` entries. */
  private siftDown(i: number, key: number, ent: number, size: number): void {
    const { keys, ents } = this;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= size) break;
      let c = first;
      const end = Math.min(first + 4, size);
      for (let k = first + 1; k < end; k++) if (keys[k] > keys[c]) c = k;
      if (keys[c] <= key) break;
      keys[i] = keys[c];
      ents[i] = ents[c];
      i = c;
    }
    keys[i] = key;
    ents[i] = ent;
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
