/**
 * `layerlab generate` and `layerlab info` as a user runs them: outputs on stdout, and a clear
 * message with a non-zero exit for every kind of bad input.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../models/demo';
import { runCli } from '../helpers/cli';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir();
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };
const demo = writeDemoModel(path.join(root, 'demo'), { maxSeqLen: 32 }).dir;

describe('layerlab generate / info on the demo model', () => {
  test('generate --json prints prompt and generated ids, text only without --json', () => {
    const r = runCli(['generate', '--model', demo, '--prompt', 'hi', '--max_new_tokens', '5', '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    // BOS, 'h', 'i' are the first ids of the byte-level demo tokenizer: 1, 3+104, 3+105
    assert.deepEqual(out.ids.slice(0, 3), [1, 107, 108]);
    assert.equal(out.ids.length, 3 + 5);
    const plain = runCli(['generate', '--model', demo, '--prompt', 'hi', '--max_new_tokens', '5'], env);
    assert.equal(plain.stdout.replace(/\n$/, ''), out.text);
  });

  test('--models_path DIR --model_name NAME is DIR/NAME (seed flags, kebab aliases too)', () => {
    const r = runCli(['info', '--models-path', root, '--model-name', 'demo', '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.nBlocks, 2);
    assert.equal(info.dModel, 64);
    assert.equal(info.hookPoints, 4);
    assert.equal(info.provider, 'cpu');
  });

  test('a prompt longer than the context is refused', () => {
    const r = runCli(['generate', '--model', demo, '--prompt', 'x'.repeat(40)], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /longer than the model's context of 32/);
  });
});

describe('bad model files give a clear error and exit 1', () => {
  test('missing checkpoint', () => {
    const r = runCli(['info', '--model', path.join(root, 'nope.bin')], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /nope\.bin: no such file or folder/);
  });

  const stories = sharedFile('stories260K/stories260K.bin');
  test('truncated llama2.c checkpoint', { skip: stories.skip }, () => {
    const dir = path.join(root, 'trunc');
    fs.mkdirSync(dir);
    const bytes = fs.readFileSync(stories.path);
    fs.writeFileSync(path.join(dir, 'model.bin'), bytes.subarray(0, bytes.length - 1000));
    fs.copyFileSync(sharedFile('stories260K/tok512.bin').path, path.join(dir, 'tokenizer.bin'));
    const r = runCli(['info', '--model', path.join(dir, 'model.bin')], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /model\.bin: .*(truncated|bytes)/);
  });

  test('tokenizer that does not match the model', { skip: stories.skip }, () => {
    const r = runCli(['info', '--model', stories.path, '--tokenizer', path.join(root, 'bad-tok.bin')], env);
    assert.equal(r.status, 1);
    fs.writeFileSync(path.join(root, 'small-tok.bin'), Buffer.alloc(4));
    const r2 = runCli(['info', '--model', stories.path, '--tokenizer', path.join(root, 'small-tok.bin')], env);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /small-tok\.bin/);
  });

  test('safetensors header that lies about its length', () => {
    const dir = path.join(root, 'lying');
    fs.cpSync(demo, dir, { recursive: true });
    const file = path.join(dir, 'model.safetensors');
    const bytes = fs.readFileSync(file);
    bytes.writeBigUInt64LE(BigInt(bytes.length * 10), 0);
    fs.writeFileSync(file, bytes);
    const r = runCli(['info', '--model', dir], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /model\.safetensors: .*header/i);
  });

  test('safetensors tensor offsets out of range', () => {
    const dir = path.join(root, 'offsets');
    fs.cpSync(demo, dir, { recursive: true });
    const file = path.join(dir, 'model.safetensors');
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    const first = Object.keys(header).find((k) => k !== '__metadata__')!;
    header[first].data_offsets[1] += 1_000_000;
    const text = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    fs.writeFileSync(file, Buffer.concat([len, text, bytes.subarray(8 + n)]));
    const r = runCli(['info', '--model', dir], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`model\\.safetensors: .*${first.replace(/\./g, '\\.')}`));
  });

  test('unsupported model_type', () => {
    const dir = path.join(root, 'gpt2');
    fs.cpSync(demo, dir, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gpt2' }));
    const r = runCli(['info', '--model', dir], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /unsupported model_type 'gpt2'/);
  });

  test('unknown flag is a usage error (exit 2) listing the valid flags', () => {
    const r = runCli(['generate', '--model', demo, '--max_tokens', '3'], env);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--max_new_tokens/);
  });
});
