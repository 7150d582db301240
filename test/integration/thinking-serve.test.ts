/**
 * The model annotator against LayerLab's own server: `layerlab serve` (started here as a real
 * process) puts stories260K with the <think> chat template behind the OpenAI chat-completions
 * protocol, and `layerlab annotate --annotator model --endpoint URL` annotates through it. The
 * same annotation with the model run in process (--annotator_model) must get the same replies
 * and spans: the HTTP path changes nothing. Also: the protocol's errors, an unreachable endpoint
 * (named with the chains file and line), and Ctrl-C stopping the server cleanly.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const stories = sharedFile('stories260K/stories260K.bin');
const root = tmpDir('layerlab-serve-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('the model annotator over HTTP, served by layerlab serve', { skip: stories.skip }, () => {
  let model: string;
  let chainsFile: string;
  let server: ChildProcess;
  let url: string;
  let serverLog = '';

  before(async () => {
    model = path.join(root, 'stories-think');
    // The annotation prompt (the category definitions and a piece of a chain) is longer than
    // stories260K's trained context of 512 tokens, so the annotating copy gets a longer one.
    let r = runCli(['llama2c-to-hf', stories.path, '--out', model, '--think_template', '--context_length', '1024'], env);
    assert.equal(r.status, 0, r.stderr);
    const tasks = path.join(root, 'tasks.jsonl');
    fs.writeFileSync(tasks, ['Tell me about a dog.', 'Why was Lily sad?'].map((p, i) => JSON.stringify({ id: `t${i}`, category: 'story', prompt: p })).join('\n'));
    chainsFile = path.join(root, 'c.chains.jsonl');
    r = runCli(['generate-chains', '--model', model, '--tasks', tasks, '--max_new_tokens', '60', '--out', chainsFile], env);
    assert.equal(r.status, 0, r.stderr);

    server = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime', 'cli', 'main.ts'), 'serve', '--model', model, '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d) => (serverLog += d));
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${serverLog}`)), 120_000);
      server.stderr!.on('data', (d) => {
        serverLog += d;
        const m = /serving \S+ at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(serverLog);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      server.on('exit', (code) => reject(new Error(`serve exited ${code}:\n${serverLog}`)));
    });
  });

  after(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });

  test('it speaks the OpenAI protocol: models, completions, and errors in OpenAI\'s shape', async () => {
    const models = await (await fetch(`${url}/models`)).json();
    assert.deepEqual(models.data.map((m: { id: string }) => m.id), ['stories-think']);
    const res = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'stories-think', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12 }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0].message.role, 'assistant');
    assert.equal(typeof body.choices[0].message.content, 'string');
    assert.ok(body.usage.completion_tokens <= 12 && body.usage.prompt_tokens > 0);
    // The reply is the model's greedy generation from the chat prompt: `layerlab generate` agrees.
    const g = runCli(['generate', '--model', model, '--prompt', '<s>User: Hi\nAssistant: <think>\n', '--no_bos', '--max_new_tokens', String(body.usage.completion_tokens), '--json'], env);
    assert.equal(g.status, 0, g.stderr);
    assert.equal(JSON.parse(g.stdout).text, body.choices[0].message.content);

    const stream = await fetch(`${url}/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], stream: true }) });
    assert.equal(stream.status, 400);
    assert.match((await stream.json()).error.message, /streaming is not supported/);
    const empty = await fetch(`${url}/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [] }) });
    assert.equal(empty.status, 400);
    assert.match((await empty.json()).error.message, /^messages: /);
    const long = await fetch(`${url}/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'word '.repeat(1200) }] }) });
    assert.equal(long.status, 400);
    assert.equal((await long.json()).error.code, 'context_length_exceeded');
    assert.equal((await fetch(`${url}/nope`)).status, 404);
  });

  test('annotating through the endpoint gives what the same model gives in process', () => {
    const common = ['--annotator', 'model', '--annotator_chunk_sentences', '2', '--annotator_max_tokens', '40'];
    const viaHttp = path.join(root, 'http.annotations.jsonl');
    let r = runCli(['annotate', chainsFile, ...common, '--endpoint', url, '--endpoint_model', 'stories-think', '--out', viaHttp], env);
    assert.equal(r.status, 0, r.stderr);
    const local = path.join(root, 'local.annotations.jsonl');
    r = runCli(['annotate', chainsFile, ...common, '--annotator_model', model, '--out', local], env);
    assert.equal(r.status, 0, r.stderr);
    const replies = (f: string) => fs.readFileSync(f.replace(/\.jsonl$/, '.replies.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const a = replies(viaHttp);
    const b = replies(local);
    assert.ok(a.length >= 2, 'one request per piece of each chain');
    assert.deepEqual(a, b);
    const spans = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').slice(1);
    assert.deepEqual(spans(viaHttp), spans(local));
    const header = JSON.parse(fs.readFileSync(viaHttp, 'utf8').split('\n')[0]!);
    assert.deepEqual([header.annotator.kind, header.annotator.chat], ['model', { kind: 'endpoint', url: `${url}/chat/completions`, model: 'stories-think' }]);
    assert.equal(JSON.stringify(header).includes('key'), false, 'no key in the provenance');
  });

  test('an unreachable endpoint: a clear error naming the chains file and line', async () => {
    const port = await closedPort();
    const r = runCli(['annotate', chainsFile, '--annotator', 'model', '--endpoint', `http://127.0.0.1:${port}/v1`, '--out', path.join(root, 'x.jsonl')], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`c\\.chains\\.jsonl \\(line 1\\): annotating chain t0: the annotator endpoint http://127\\.0\\.0\\.1:${port}/v1/chat/completions is unreachable \\(ECONNREFUSED\\): check --endpoint and that the server is running`));
    assert.equal(fs.existsSync(path.join(root, 'x.jsonl')), false, 'nothing written');
  });

  test('Ctrl-C stops the server, which says how many requests it served', async () => {
    const code = await new Promise<number | null>((resolve) => {
      server.on('exit', (c) => resolve(c));
      server.kill('SIGINT');
    });
    assert.equal(code, 0, serverLog);
    assert.match(serverLog, /served [1-9]\d* request\(s\) at http:\/\/127\.0\.0\.1:\d+\/v1/);
  });
});
