/**
 * The wrong file given as a model or tokenizer says what it is and what to pass instead, rather
 * than being read as a llama2.c header ("implausible dim") or failing inside a library
 * ("Cannot read properties of undefined", "token id undefined").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../../models/checkpoint';
import { writeDemoModel } from '../../models/demo';
import { loadCheckpoint } from '../../models/load';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir();
const demo = writeDemoModel(path.join(root, 'demo')).dir;
const stories = sharedFile('stories260K/stories260K.bin');
const tok512 = sharedFile('stories260K/tok512.bin');

function refuses(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.equal(e.file, file);
    assert.match(e.message, re);
    return true;
  });
}

test('--model pointing at model.safetensors or config.json names the folder to pass', () => {
  refuses(() => loadCheckpoint(path.join(demo, 'model.safetensors')), path.join(demo, 'model.safetensors'),
    new RegExp(`is a safetensors weights file, not a llama2\\.c checkpoint; pass the folder that holds it and config\\.json: --model ${demo}$`));
  refuses(() => loadCheckpoint(path.join(demo, 'config.json')), path.join(demo, 'config.json'), /is a JSON file, not a llama2\.c checkpoint; pass the folder/);
  const gguf = path.join(root, 'model.gguf');
  fs.writeFileSync(gguf, Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(64)]));
  refuses(() => loadCheckpoint(gguf), gguf, /is a GGUF file \(llama\.cpp\)/);
  const zip = path.join(root, 'pytorch_model.bin');
  fs.writeFileSync(zip, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(64)]));
  refuses(() => loadCheckpoint(zip), zip, /is a zip archive \(a PyTorch/);
});

test('a tokenizer for another kind of model, or an incomplete one, is named as such', () => {
  const folder = (name: string, json: unknown) => {
    const d = path.join(root, name);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify(json));
    return d;
  };
  // A tokenizer.json with no vocabulary: the library fails with "Cannot convert undefined or null to object".
  const broken = folder('broken-tok', { model: { type: 'BPE' } });
  refuses(() => loadCheckpoint(demo, broken), path.join(broken, 'tokenizer.json'), /is not a tokenizer LayerLab can read \(.*\); is it a complete tokenizer\.json from the same model\?/);
  // WordPiece without [UNK]: the library returns `undefined` ids for text it cannot cover.
  const partial = folder('partial-tok', { model: { type: 'WordPiece', vocab: { a: 0 } } });
  const c = loadCheckpoint(demo, partial);
  refuses(() => c.tokenizer.encode('hi'), path.join(partial, 'tokenizer.json'), /produced token id undefined \(not in its own vocabulary of 1\) for this text; the tokenizer is incomplete or belongs to another model/);
  // The tokenizer.json file itself is accepted for its folder.
  assert.deepEqual(loadCheckpoint(demo, path.join(demo, 'tokenizer.json')).tokenizer.encode('hi'), loadCheckpoint(demo).tokenizer.encode('hi'));
});

test('llama2.c and Hugging Face tokenizers given to the other kind of model', { skip: stories.skip || tok512.skip }, () => {
  refuses(() => loadCheckpoint(demo, tok512.path), tok512.path, /is a file, but a Hugging Face model needs a tokenizer folder/);
  refuses(() => loadCheckpoint(stories.path, demo), demo, /is a folder, but a llama2\.c model needs a llama2\.c tokenizer file/);
});
