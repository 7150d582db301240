// The runtime server's handlers over an in-memory JSON-RPC connection: params validation, error
// classification, one-at-a-time long work, cancellation, work-done progress, shutdown, and the
// model lease shared by jobs.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { CancellationTokenSource, createMessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter, type MessageConnection, type RequestType } from 'vscode-jsonrpc/node';
import { writeDemoModel } from '../../models/demo';
import type { JobContext, JobHandlers } from '../../runtime/jobs';
import { UsageError } from '../../runtime/protocol/argv';
import { JobProgressType, JOBS, type JobName, type JobProgress } from '../../runtime/protocol/jobs';
import {
  DescribeModelRequest,
  ExitNotification,
  InitializeRequest,
  InspectDatasetRequest,
  ListCachesRequest,
  LogNotification,
  ModelChangedNotification,
  ModelInfoRequest,
  PROTOCOL_VERSION,
  RuntimeStatusRequest,
  ShutdownRequest,
  type LogParams,
  type ModelInfo,
  type RuntimeErrorData,
} from '../../runtime/protocol/requests';
import { RuntimeServer } from '../../runtime/server/server';
import { tmpDir } from '../helpers/tmp';

interface Harness {
  client: MessageConnection;
  server: RuntimeServer;
  logs: LogParams[];
  /** Work-done progress by token. */
  progress: Map<string, JobProgress[]>;
  models: (ModelInfo | null)[];
  exits: number[];
}

const open: MessageConnection[] = [];
after(() => open.forEach((c) => c.dispose()));

function harness(handlers: Partial<JobHandlers>, progressIntervalMs = 100): Harness {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const serverConn = createMessageConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  const exits: number[] = [];
  const server = new RuntimeServer(serverConn, { handlers, exit: (c) => void exits.push(c), progressIntervalMs });
  const h: Harness = { client, server, logs: [], progress: new Map(), models: [], exits };
  client.onNotification(LogNotification, (p) => void h.logs.push(p));
  client.onNotification(ModelChangedNotification, (p) => void h.models.push(p.model));
  serverConn.listen();
  client.listen();
  open.push(client, serverConn);
  return h;
}

let seq = 0;

/** Sends a job's request with a fresh work-done token whose reports land in `h.progress`. */
function send(h: Harness, name: JobName, params: Record<string, unknown>, token?: CancellationTokenSource): { reply: Promise<unknown>; token: string } {
  const workDoneToken = `t${++seq}`;
  const reports: JobProgress[] = [];
  h.progress.set(workDoneToken, reports);
  h.client.onProgress(JobProgressType, workDoneToken, (p) => void reports.push(p));
  const request = JOBS[name].request as unknown as RequestType<unknown, unknown, RuntimeErrorData>;
  const reply = h.client.sendRequest(request, { ...params, workDoneToken }, token?.token);
  reply.catch(() => {});
  return { reply, token: workDoneToken };
}

const allProgress = (h: Harness) => [...h.progress.values()].flat();

async function rejection(p: Promise<unknown>): Promise<ResponseError<RuntimeErrorData>> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ResponseError, `expected a ResponseError, got ${e}`);
    return e as ResponseError<RuntimeErrorData>;
  }
  assert.fail('expected the request to fail');
}

/** A job that runs until aborted (checking every few ms, like a batch loop). */
async function untilCancelled(_p: unknown, ctx: JobContext): Promise<never> {
  ctx.progress(0, 100, 'waiting');
  while (!ctx.signal.aborted) await new Promise((r) => setTimeout(r, 5));
  ctx.signal.throwIfAborted();
  throw new Error('unreachable');
}

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('runtime server handlers', () => {
  it('initialize answers the protocol, version and pid', async () => {
    const h = harness({});
    const r = await h.client.sendRequest(InitializeRequest, { protocolVersion: PROTOCOL_VERSION, client: 'test' });
    assert.equal(r.protocolVersion, PROTOCOL_VERSION);
    assert.equal(r.pid, process.pid);
    assert.equal(r.nodeVersion, process.version);
    assert.match(r.runtimeVersion, /^\d+\.\d+\.\d+/);
  });

  it('checks every request against its schema: wrong params are InvalidParams naming the field, before any work', async () => {
    let ran = 0;
    const h = harness({ evaluate: async () => void ran++ as never, 'compute-directions': async () => void ran++ as never });
    const cases: [JobName, Record<string, unknown>, RegExp][] = [
      ['evaluate', { model: 'm', sampleSize: 'many' }, /--sample_size must be an integer, got string/],
      ['evaluate', { model: 'm', layerIndices: [1.5] }, /--layer_indices/],
      ['evaluate', { modelsPath: '/m' }, /--model_name is required with --models_path/],
      ['evaluate', { model: 'm', bogus: true }, /unknown parameter 'bogus' for evaluate/],
      ['compute-directions', { holdout: 0.2 }, /--cache is required/],
      ['compute-directions', { cache: 7 }, /--cache must be a string, got number/],
    ];
    for (const [name, params, re] of cases) {
      const e = await rejection(send(h, name, params).reply);
      assert.equal(e.code, -32602, 'JSON-RPC InvalidParams');
      assert.equal(e.data?.kind, 'usage');
      assert.match(e.message, re);
    }
    const short = await rejection(h.client.sendRequest(InspectDatasetRequest, { file: 3 } as never));
    assert.equal(short.code, -32602);
    assert.match(short.message, /invalid params: file: Expected string, received number/);
    assert.equal(ran, 0);
  });

  it('classifies failures: usage, data, io, internal (with the stack in the log)', async () => {
    const failing = (err: Error) => async (): Promise<never> => {
      throw err;
    };
    const dataError = Object.assign(new Error('data.json: record 3 has no question'), { name: 'DatasetError' });
    const ioError = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT', syscall: 'open' });
    const h = harness({
      generate: failing(new UsageError('--max_new_tokens must be an integer >= 0')),
      evaluate: failing(dataError),
      sweep: failing(ioError),
      demo: failing(new TypeError("Cannot read properties of undefined (reading 'x')")),
    });
    const kinds = [];
    for (const name of ['generate', 'evaluate', 'sweep', 'demo'] as const) {
      const e = await rejection(send(h, name, name === 'demo' ? {} : { model: 'm' }).reply);
      kinds.push([e.data?.kind, e.message]);
    }
    assert.deepEqual(kinds, [
      ['usage', '--max_new_tokens must be an integer >= 0'],
      ['data', 'data.json: record 3 has no question'],
      ['io', "ENOENT: no such file or directory, open '/x'"],
      ['internal', "Cannot read properties of undefined (reading 'x')"],
    ]);
    const bug = h.logs.find((l) => l.level === 'error');
    assert.match(bug!.message, /job demo failed: TypeError: Cannot read properties[\s\S]*at /, 'the stack goes to the log');
  });

  it('runs one long request at a time; short ones answer meanwhile; Cancel stops the job', async () => {
    const h = harness({ demo: untilCancelled, sweep: untilCancelled });
    const cts = new CancellationTokenSource();
    const first = send(h, 'demo', {}, cts);
    await waitFor(() => allProgress(h).length > 0);
    const busy = await rejection(send(h, 'sweep', { model: 'm' }).reply);
    assert.equal(busy.data?.kind, 'busy');
    assert.match(busy.message, /busy \(job demo\)/);
    assert.equal(await h.client.sendRequest(ModelInfoRequest, {}), null);
    assert.deepEqual(await h.client.sendRequest(ListCachesRequest, { folder: '/nowhere' }), []);
    const status = await h.client.sendRequest(RuntimeStatusRequest, {});
    assert.deepEqual([status.active, status.model], ['job demo', null]);
    const t0 = Date.now();
    cts.cancel();
    const e = await rejection(first.reply);
    assert.equal(e.data?.kind, 'cancelled');
    assert.equal(e.code, -32800);
    assert.ok(Date.now() - t0 < 1000, 'stopped at its next check');
    // Free again.
    const cts2 = new CancellationTokenSource();
    const again = send(h, 'sweep', { model: 'm' }, cts2);
    cts2.cancel();
    assert.equal((await rejection(again.reply)).data?.kind, 'cancelled');
  });

  it('inspectDataset counts records and labels and previews the first records, even while a job runs', async () => {
    const h = harness({ demo: untilCancelled });
    const dir = tmpDir();
    const file = path.join(dir, 'scored.json');
    const pro = (id: number, score: number, question = `Question ${id}?`) => ({
      question_id: id, question, options: ['a', 'b', 'c', 'd'], answer: 'B', answer_index: 1, cot_content: '', category: 'math', memory_reason_score: score,
    });
    fs.writeFileSync(file, JSON.stringify([pro(1, 0.9, `Long ${'x'.repeat(400)}`), pro(2, 0.1), pro(3, 0.8), pro(4, 0.2), pro(5, 0.7)]));
    const cts = new CancellationTokenSource();
    const running = send(h, 'demo', {}, cts).reply;
    await waitFor(() => allProgress(h).length > 0);

    const r = await h.client.sendRequest(InspectDatasetRequest, { file, limit: 2 });
    assert.equal(r.file, file);
    assert.equal(r.kind, 'mmlu-pro');
    assert.equal(r.name, 'scored');
    assert.equal(r.records, 5);
    assert.deepEqual(r.labels, { reasoning: 3, memorization: 2, unlabeled: 0 });
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.preview.map((p) => p.id), ['1', '2']);
    assert.equal(r.preview[0].question.length, 200, 'questions are truncated');
    assert.ok(r.preview[0].question.endsWith('…'));
    assert.deepEqual({ ...r.preview[1] }, { id: '2', index: 1, label: 'memorization', category: 'math', question: 'Question 2?', answer: 'B' });
    assert.equal((await h.client.sendRequest(InspectDatasetRequest, { file })).preview.length, 5, 'the default page holds them all');

    const one = await h.client.sendRequest(InspectDatasetRequest, { file, recordId: '1' });
    assert.equal(one.preview.length, 1);
    assert.equal(one.preview[0].question, `Long ${'x'.repeat(400)}`, 'a single record comes whole');
    assert.deepEqual(one.preview[0].options, ['a', 'b', 'c', 'd']);
    assert.equal(one.preview[0].score, 0.9);
    assert.deepEqual((await h.client.sendRequest(InspectDatasetRequest, { file, recordId: 'nope' })).preview, []);

    fs.writeFileSync(path.join(dir, 'bad.json'), '{"x": 1}');
    const bad = await rejection(h.client.sendRequest(InspectDatasetRequest, { file: path.join(dir, 'bad.json') }));
    assert.equal(bad.data?.kind, 'data');
    const missing = await rejection(h.client.sendRequest(InspectDatasetRequest, { file: path.join(dir, 'missing.json') }));
    assert.ok(['io', 'data'].includes(missing.data!.kind), missing.message);

    cts.cancel();
    assert.equal((await rejection(running)).data?.kind, 'cancelled');
  });

  it('a job that fails after Cancel still answers cancelled', async () => {
    const h = harness({
      async demo(_p, ctx) {
        ctx.progress(0, 1);
        while (!ctx.signal.aborted) await new Promise((r) => setTimeout(r, 5));
        throw new Error('session closed mid-run');
      },
    });
    const cts = new CancellationTokenSource();
    const p = send(h, 'demo', {}, cts);
    await waitFor(() => allProgress(h).length > 0);
    cts.cancel();
    assert.equal((await rejection(p.reply)).data?.kind, 'cancelled');
  });

  it('throttles progress on the work-done token, never backwards, always the last; the typed result comes back', async () => {
    const h = harness(
      {
        async 'compute-directions'(_p, ctx) {
          for (let i = 0; i <= 1000; i++) ctx.progress(i, 1000, `hook ${i}`);
          ctx.progress(500, 1000);
          ctx.log('warn', 'something to note');
          return { directionsFile: 'd', statsFile: 's', layers: [] };
        },
      },
      1000,
    );
    const { reply, token } = send(h, 'compute-directions', { cache: 'relative/c.safetensors' });
    assert.deepEqual(await reply, { directionsFile: 'd', statsFile: 's', layers: [] });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      h.progress.get(token)!.map((p) => [p.done, p.message]),
      [
        [0, 'hook 0'],
        [1000, 'hook 1000'],
      ],
    );
    assert.ok(h.logs.some((l) => l.level === 'warn' && l.message === 'something to note' && l.job === token));
    assert.ok(h.logs.some((l) => l.message === 'layerlab compute-directions relative/c.safetensors' && l.job === token), 'the CLI twin is logged');
  });

  it('a step held back by the throttle is sent when the interval is over, and none after the response', async () => {
    const h = harness(
      {
        async demo(_p, ctx) {
          ctx.progress(0, 4, 'writing');
          ctx.progress(1, 4, 'caching'); // within the interval: held back…
          ctx.progress(2, 4, 'directions'); // …and replaced by the newer step
          await new Promise((r) => setTimeout(r, 130)); // sent at 100 ms
          ctx.progress(3, 4, 'sweeping'); // held back, and the job ends first: never sent
          return { modelDir: '', dataFile: '', cacheFile: '', directionsFile: '', statsFile: '', runFile: '', lines: [], findings: [] };
        },
      },
      100,
    );
    const { reply, token } = send(h, 'demo', {});
    await reply;
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      h.progress.get(token)!.map((p) => [p.done, p.message]),
      [
        [0, 'writing'],
        [2, 'directions'],
      ],
    );
  });

  it('describeModel reads blocks without loading; info and jobs share one lease; another model replaces it, with a notification each time', async () => {
    const root = tmpDir();
    const a = writeDemoModel(path.join(root, 'a')).dir;
    const b = writeDemoModel(path.join(root, 'b'), { nLayers: 3 }).dir;
    const h = harness({});
    const facts = await h.client.sendRequest(DescribeModelRequest, { model: a });
    assert.deepEqual([facts.architecture, facts.nBlocks, facts.dModel, facts.hookPoints], ['llama', 2, 64, 4]);
    assert.equal((await h.client.sendRequest(RuntimeStatusRequest, {})).sessionsCreated, 0, 'describing loads nothing');
    const bad = await rejection(h.client.sendRequest(DescribeModelRequest, { model: '/no/such/model' }));
    assert.equal(bad.data?.kind, 'model');
    assert.match(bad.message, /\/no\/such\/model: no such file or folder/);

    const info = (await send(h, 'info', { model: a, provider: 'cpu' }).reply) as ModelInfo;
    assert.deepEqual([info.architecture, info.nBlocks, info.dModel, info.hookPoints, info.provider], ['llama', 2, 64, 4, 'cpu']);
    const g = (await send(h, 'generate', { model: a, provider: 'cpu', prompt: 'hi', maxNewTokens: 3 }).reply) as { newTokens: number };
    assert.equal(g.newTokens, 3);
    assert.equal((await h.client.sendRequest(RuntimeStatusRequest, {})).sessionsCreated, 1, 'generate reused the model info opened');
    assert.equal((await h.client.sendRequest(ModelInfoRequest, {}))?.path, a);

    // Another provider is another lease; another model replaces the held one.
    await send(h, 'generate', { model: a, provider: 'auto', prompt: 'hi', maxNewTokens: 1 }).reply;
    await send(h, 'info', { model: b, provider: 'cpu' }).reply;
    assert.equal((await h.client.sendRequest(RuntimeStatusRequest, {})).sessionsCreated, 3);
    assert.equal((await h.client.sendRequest(ModelInfoRequest, {}))?.nBlocks, 3);
    assert.ok(h.logs.some((l) => l.message === `releasing ${a} to open ${b} (one model at a time)`));
    await waitFor(() => h.models.length >= 5);
    assert.deepEqual(h.models.map((m) => m?.path ?? null), [a, null, a, null, b], 'opened, released, opened, released, opened');
  });

  it('shutdown cancels the running job and releases; exit then uses code 0 (1 without shutdown)', async () => {
    const h = harness({ demo: untilCancelled });
    const running = send(h, 'demo', {}).reply;
    await waitFor(() => allProgress(h).length > 0);
    assert.equal(await h.client.sendRequest(ShutdownRequest), null);
    assert.equal((await rejection(running)).data?.kind, 'cancelled');
    const after = await rejection(send(h, 'demo', {}).reply);
    assert.match(after.message, /shutting down/);
    await h.client.sendNotification(ExitNotification);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(h.exits, [0]);

    const h2 = harness({});
    await h2.client.sendNotification(ExitNotification);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(h2.exits, [1]);
  });
});
