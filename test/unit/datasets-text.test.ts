/**
 * Plain-text datasets: a .txt file is one prompt per non-empty line, a JSON/JSONL record with a
 * "text" field is one prompt; both become records whose prompt is the text itself (the `text`
 * template), with no labels. Bad records are reported with file, record, line and field.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DatasetError, loadDataset, parseTemplate, renderPrompt } from '../../datasets';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir('layerlab-text-data-');

function write(name: string, content: string | Buffer): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, content);
  return f;
}

describe('plain-text datasets', () => {
  test('a .txt file: one record per non-empty line (CRLF and blank lines too), ids by position, no labels', async () => {
    const ds = await loadDataset(write('prompts.txt', 'Once upon a time\r\n\r\nThe cat sat, "quietly".\n  \nLast line without newline'));
    assert.equal(ds.kind, 'text');
    assert.equal(ds.name, 'prompts');
    assert.deepEqual(ds.records.map((r) => [r.id, r.question]), [['0', 'Once upon a time'], ['1', 'The cat sat, "quietly".'], ['2', 'Last line without newline']]);
    assert.equal(ds.labelRule, undefined);
    assert.ok(ds.records.every((r) => r.label === undefined && r.options.length === 0));
  });

  test('{"text": …} records in JSONL and JSON, with their own ids; the text template passes the text on unchanged', async () => {
    const jl = await loadDataset(write('p.jsonl', '{"id": "a", "text": "line one\\nline two"}\n{"text": "second"}\n'));
    assert.equal(jl.kind, 'text');
    assert.deepEqual(jl.records.map((r) => [r.id, r.question]), [['a', 'line one\nline two'], ['1', 'second']]);
    const js = await loadDataset(write('p.json', JSON.stringify([{ text: 'x' }, { text: 'y', id: 7 }])));
    assert.deepEqual(js.records.map((r) => r.id), ['0', '7']);
    assert.equal(renderPrompt(parseTemplate('text'), jl.records[0]!), 'line one\nline two');
  });

  test('an empty text, a text that is not a string, duplicate ids and bad bytes are named with file, record, line and field', async () => {
    const f1 = write('bad.jsonl', '{"text": "ok"}\n\n{"text": ""}\n');
    await assert.rejects(loadDataset(f1), (e: Error) => {
      assert.ok(e instanceof DatasetError);
      assert.equal(e.message, `${f1} (record 1, line 3, field "text"): is empty. Fix the record, or choose another schema with --kind (this file is read as "text", which expects text [, id]  (or a .txt file, one prompt per line)).`);
      return true;
    });
    await assert.rejects(loadDataset(write('bad2.jsonl', '{"text": "ok"}\n{"text": 5}\n'), { kind: 'text' }), /record 1, line 2, field "text"\): has the wrong type: expected string, got number/);
    await assert.rejects(loadDataset(write('dup.jsonl', '{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}\n')), /record 1, line 2, field "id"\): duplicate id "1"/);
    const latin = write('latin.txt', Buffer.concat([Buffer.from('fine\nna'), Buffer.from([0xef, 0x76]), Buffer.from('e\n')]));
    await assert.rejects(loadDataset(latin), /latin\.txt \(record 1, line 2, column 3\): is not valid UTF-8: byte offset 7/);
  });
});
