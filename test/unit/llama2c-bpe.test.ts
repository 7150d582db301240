/**
 * The llama2.c tokenizer's merge loop is O(n log n) (a heap of adjacent pairs) and gives exactly
 * the ids of run.c's quadratic loop, kept below as the reference, on varied text: prose,
 * whitespace runs, digits, punctuation, CJK, emoji, combining marks, lone surrogates, and
 * random byte soup. 1 MB of text tokenizes in well under a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../models/common/prng';
import { readLlama2cTokenizer, type Llama2cTokenizer } from '../../models/llama2c/tokenizer';
import { sharedFile } from '../helpers/sharedData';

const tokFile = sharedFile('stories260K/tok512.bin');

/**
 * run.c's encode(), transcribed loop for loop (as this file's tokenizer was before the heap):
 * after the codepoint/byte-fallback pass, scan every adjacent pair for the best-scoring merge
 * (strictly greater than the best so far, so the leftmost wins ties), merge it, repeat.
 */
function referenceEncode(tok: Llama2cTokenizer, text: string): number[] {
  const pieces: string[] = Array.from({ length: tok.vocabSize }, (_, id) => String.fromCharCode(...tok.piece(id)));
  const lookup = new Map<string, number>();
  pieces.forEach((p, id) => lookup.has(p) || lookup.set(p, id));
  const bytes = new TextEncoder().encode(text);
  const tokens: number[] = [];
  if (bytes.length > 0) tokens.push(lookup.get(' ') ?? 3 + 0x20);
  for (let start = 0; start < bytes.length; ) {
    let end = start + 1;
    while (end < bytes.length && (bytes[end] & 0xc0) === 0x80 && end - start < 4) end++;
    const cp = bytes.subarray(start, end);
    const id = lookup.get(String.fromCharCode(...cp));
    if (id !== undefined) tokens.push(id);
    else for (const b of cp) tokens.push(3 + b);
    start = end;
  }
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = lookup.get(pieces[tokens[i]] + pieces[tokens[i + 1]]);
      if (id !== undefined && tok.scores[id] > bestScore) {
        bestScore = tok.scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx < 0) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

/** Text from a seeded mix of the pieces that stress merging: repeats make many equal-score ties. */
function variedText(seed: number, length: number): string {
  const parts = [
    'Once upon a time', ' there was a little girl named Lily.', ' She liked to play', '  ', '\n\n', '\t', ' the', 'the', 'aaaa', 'aa',
    'ing', ' 12345', '3.14159', '!!!', '?!', '"', '“quoted”', '—', 'café', 'naïve', 'e\u0301', '日本語のテキスト', '中文', '한국어',
    '😀', '👩‍👩‍👧', '\u{1F600}\u{1F601}', 'Ω≈ç√∫', '\u0000', '\u00ff', '\ud800', '.....', '    ', 'lll', 'ooo', 'x',
  ];
  const r = mulberry32(seed);
  let s = '';
  while (s.length < length) s += parts[Math.floor(r() * parts.length)];
  return s;
}

test('the heap merge gives run.c’s ids on varied text', { skip: tokFile.skip }, () => {
  const tok = readLlama2cTokenizer(tokFile.path, 512);
  const cases = ['', ' ', 'a', 'aa', 'aaa', 'aaaaaaaaaaaaaaaa', 'Once upon a time', '  leading and trailing  ', '日', '\u{10FFFF}'];
  for (let seed = 1; seed <= 60; seed++) cases.push(variedText(seed, 20 + (seed * 37) % 400));
  // Random code points, including ones outside the vocabulary (byte fallback) and unpaired surrogates.
  const r = mulberry32(99);
  for (let k = 0; k < 20; k++) cases.push(Array.from({ length: 60 }, () => String.fromCodePoint(Math.floor(r() * (r() < 0.7 ? 0x80 : 0x3000)))).join(''));
  for (const text of cases) assert.deepEqual(tok.encode(text), referenceEncode(tok, text), JSON.stringify(text.slice(0, 80)));
});

test('1 MB of text tokenizes in well under a second', { skip: tokFile.skip }, (t) => {
  const tok = readLlama2cTokenizer(tokFile.path, 512);
  const text = variedText(7, 1 << 20);
  tok.encode(text.slice(0, 10_000)); // warm up the JIT
  // CPU time, not wall-clock: the test machines are shared, and waiting for a core is not the
  // tokenizer's cost (the quadratic loop needed 18 s for 40 KB; 1 MB never finished).
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const ids = tok.encode(text);
  const cpu = process.cpuUsage(c0);
  const ms = (cpu.user + cpu.system) / 1000;
  t.diagnostic(`1 MB: ${ms.toFixed(0)} ms CPU, ${(performance.now() - t0).toFixed(0)} ms wall-clock, ${ids.length} tokens`);
  assert.ok(ids.length > 100_000);
  assert.ok(ms < 800, `1 MB took ${ms.toFixed(0)} ms of CPU`);
});
