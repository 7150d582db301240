/**
 * Dataset text encodings: UTF-8 strictly (an invalid byte is an error naming the record, line and
 * byte offset — never a silent U+FFFD), a UTF-8 byte-order mark accepted, UTF-16 recognised and
 * named, and an explicit encoding for files that are not UTF-8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DatasetError, readTable } from '../../datasets';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();
const rec = (q: string, i: number) => ({ question_id: i, question: q, options: ['a', 'b'], answer: 'A', answer_index: 0, category: 'x', memory_reason_score: 0.9 });

function write(name: string, bytes: Buffer): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
}

async function rejects(file: string, check: (e: DatasetError) => void): Promise<void> {
  await assert.rejects(readTable(file), (e) => {
    assert.ok(e instanceof DatasetError, String(e));
    check(e);
    return true;
  });
}

test('a Latin-1 JSON array: the record, line, column and byte offset of the first bad byte', async () => {
  const text = JSON.stringify([rec('plain', 0), rec('also plain', 1), rec('café au lait', 2)], null, 1);
  const f = write('latin1.json', Buffer.from(text, 'latin1'));
  const offset = Buffer.from(text, 'latin1').indexOf(0xe9);
  await rejects(f, (e) => {
    assert.equal(e.index, 2);
    const line = text.slice(0, text.indexOf('é')).split('\n').length;
    assert.equal(e.line, line);
    assert.match(e.message, new RegExp(`^${f} \\(record 2, line ${line}, column \\d+\\): is not valid UTF-8: byte offset ${offset} holds 0xE9 0x20 0x61 0x75 \\(the file looks like Latin-1`));
    assert.match(e.message, /iconv -f latin1 -t UTF-8 FILE > FILE\.utf8\), or name its encoding \(--encoding latin1\)/);
  });
});

test('a Latin-1 JSONL file: the record counts only non-blank lines before it', async () => {
  const lines = [JSON.stringify(rec('one', 0)), '', JSON.stringify(rec('two', 1)), JSON.stringify(rec('naïve', 2))];
  const f = write('latin1.jsonl', Buffer.from(lines.join('\n') + '\n', 'latin1'));
  await rejects(f, (e) => {
    assert.equal(e.index, 2);
    assert.equal(e.line, 4);
  });
});

test('records under a key ({"data": [...]}) and after strings holding brackets and commas', async () => {
  const text = JSON.stringify({ name: 'x, [y]', data: [rec('a, "b" [c]', 0), rec('{d}', 1), rec('\u00e9', 2)] });
  const f = write('nested.json', Buffer.from(text, 'latin1'));
  await rejects(f, (e) => assert.equal(e.index, 2));
});

test('UTF-16 files are named as UTF-16, with or without a byte-order mark, either byte order', async () => {
  const text = JSON.stringify([rec('hello', 0)]);
  const le = Buffer.from(text, 'utf16le');
  const be = Buffer.from(le).swap16();
  const cases: [string, Buffer, RegExp][] = [
    ['le-bom.json', Buffer.concat([Buffer.from([0xff, 0xfe]), le]), /is encoded as UTF-16 \(little-endian, with a byte-order mark\)\. .*iconv -f UTF-16LE -t UTF-8/],
    ['le.json', le, /is encoded as UTF-16 \(little-endian, no byte-order mark\)/],
    ['be-bom.json', Buffer.concat([Buffer.from([0xfe, 0xff]), be]), /is encoded as UTF-16 \(big-endian, with a byte-order mark\)\. .*--encoding utf-16be/],
  ];
  for (const [name, bytes, re] of cases) await rejects(write(name, bytes), (e) => assert.match(e.message, re));
});

test('valid UTF-8 (a byte-order mark, accents, CJK, emoji) reads unchanged', async () => {
  const qs = ['café', '日本語', '😀 and 👩‍👩‍👧', 'Ω≈ç√'];
  const f = write('ok.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(qs.map(rec)), 'utf8')]));
  const t = await readTable(f);
  assert.deepEqual(t.rows.map((r) => (r as { question: string }).question), qs);
});

test('malformed UTF-8 that a lenient decoder would accept is refused: surrogates, overlong forms, truncation', async () => {
  for (const [name, bad] of [['surrogate', [0xed, 0xa0, 0x80]], ['overlong', [0xc0, 0xaf]], ['truncated', [0xe6, 0x97]], ['beyond', [0xf4, 0x90, 0x80, 0x80]]] as const) {
    const f = write(`${name}.json`, Buffer.concat([Buffer.from('["ok", "'), Buffer.from(bad), Buffer.from('"]')]));
    await rejects(f, (e) => assert.match(e.message, /byte offset 8 holds/, name));
  }
});

test('an explicit encoding reads Latin-1 and UTF-16 files correctly', async () => {
  const text = JSON.stringify([rec('café', 0)]);
  const latin = write('explicit-latin1.json', Buffer.from(text, 'latin1'));
  assert.equal(((await readTable(latin, { encoding: 'latin1' })).rows[0] as { question: string }).question, 'café');
  const u16 = write('explicit-utf16.json', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
  assert.equal(((await readTable(u16, { encoding: 'utf-16le' })).rows[0] as { question: string }).question, 'café');
  // The hash is of the bytes on disk, whatever the encoding.
  assert.equal((await readTable(latin, { encoding: 'latin1' })).contentHash.length, 64);
});
