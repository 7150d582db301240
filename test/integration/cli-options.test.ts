/**
 * CLI options that reach the engines through the job schemas: over-long prompts in evaluate
 * (refused before any work naming them, left out and recorded, or cut), and generate's prompt
 * from a file or standard input (prompts too long for a command line).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../models/demo';
import type { RunFile } from '../../runtime/protocol/results';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-cli-options-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'graphs') };
// A byte-level model with a 96-token context: a 200-character question does not fit.
const model = writeDemoModel(path.join(root, 'demo'), { maxSeqLen: 96 }).dir;
const data = path.join(root, 'mixed.json');
const LONG = new Set([2, 5, 7]);
fs.writeFileSync(data, JSON.stringify(Array.from({ length: 10 }, (_, i) => ({
  question_id: i,
  question: LONG.has(i) ? `Long question ${i}: ${'word '.repeat(40)}?` : `Is ${i} even?`,
  options: ['yes', 'no'], answer: i % 2 ? 'B' : 'A', answer_index: i % 2, cot_content: '', category: 'math', src: 't', memory_reason_score: i % 3 ? 0.8 : 0.2,
}))));
const evaluate = (...more: string[]) => runCli(['evaluate', '--model', model, '--data_file', data, '--scoring', 'loglik', '--sample_size', '10', '--template', 'bare', ...more], env);
const read = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;

describe('evaluate --on_long_prompt', () => {
  test('default: refused before any work, naming how many and which, and the flag', () => {
    const out = path.join(root, 'error.json');
    const r = evaluate('--out', out);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /3 of 10 prompts are longer than the model's context of 96 tokens: 2 \(\d+ tokens\), 5 \(\d+ tokens\), 7 \(\d+ tokens\); pass --on_long_prompt skip/);
    assert.ok(!fs.existsSync(out), 'no run file');
  });

  test('skip: the others are evaluated, and the run file says which were left out', () => {
    const out = path.join(root, 'skip.json');
    const r = evaluate('--on_long_prompt', 'skip', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const run = read(out);
    assert.deepEqual(run.spec.longPrompts?.skipped.map((x) => x.id), ['2', '5', '7']);
    assert.equal(run.spec.longPrompts?.policy, 'skip');
    assert.deepEqual(run.spec.recordIds, ['0', '1', '3', '4', '6', '8', '9']);
    assert.deepEqual(run.results[0]!.items.map((i) => i.id), ['0', '1', '3', '4', '6', '8', '9']);
    const s = run.results[0]!.summary;
    assert.equal(s.reasoning.total + s.memorization.total, 7);
    assert.match(run.warnings!.join('\n'), /3 record\(s\) left out/);
  });

  test('truncate-left: every record, the long ones cut to fit, and recorded', () => {
    const out = path.join(root, 'cut.json');
    const r = evaluate('--on_long_prompt', 'truncate-left', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const run = read(out);
    assert.deepEqual(run.spec.longPrompts?.truncated.map((x) => x.id), ['2', '5', '7']);
    assert.ok(run.spec.longPrompts!.truncated.every((x) => x.tokens > 96));
    assert.equal(run.results[0]!.items.length, 10);
    assert.ok(run.results[0]!.items.filter((i) => LONG.has(Number(i.id))).every((i) => i.promptTokens! + 1 <= 96), 'cut to the context');
  });
});

describe('generate --prompt_file', () => {
  const cli = path.join(__dirname, '..', '..', 'runtime', 'cli', 'main.ts');
  const text = 'Once upon a time, ' + 'x'.repeat(50);

  test('a prompt from a file equals the same prompt given as --prompt; standard input too', () => {
    const file = path.join(root, 'prompt.txt');
    fs.writeFileSync(file, text);
    const direct = runCli(['generate', '--model', model, '--prompt', text, '--max_new_tokens', '3', '--json'], env);
    const fromFile = runCli(['generate', '--model', model, '--prompt_file', file, '--max_new_tokens', '3', '--json'], env);
    assert.equal(direct.status, 0, direct.stderr);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.deepEqual(JSON.parse(fromFile.stdout), JSON.parse(direct.stdout));
    const stdin = spawnSync(process.execPath, ['--import', 'tsx', cli, 'generate', '--model', model, '--prompt_file', '-', '--max_new_tokens', '3', '--json'], {
      input: text, encoding: 'utf8', env: { ...process.env, ...env, ORT_DISABLE_TELEMETRY: '1' },
    });
    assert.equal(stdin.status, 0, stdin.stderr);
    assert.deepEqual(JSON.parse(stdin.stdout), JSON.parse(direct.stdout));
  });

  test('both --prompt and --prompt_file, or a file that is not UTF-8: usage errors naming the flag', () => {
    const both = runCli(['generate', '--model', model, '--prompt', 'a', '--prompt_file', 'f.txt'], env);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--prompt_file conflicts with --prompt/);
    const latin1 = path.join(root, 'latin1.txt');
    fs.writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    const bad = runCli(['generate', '--model', model, '--prompt_file', latin1], env);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--prompt_file .*latin1\.txt is not UTF-8 text/);
  });
});
