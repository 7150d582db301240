// The runtime server's handlers over an in-memory JSON-RPC connection: error classification,
// one-at-a-time long work, cancellation, progress, shutdown, and model sharing with jobs.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { CancellationTokenSource, createMessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { writeDemoModel } from '../../models/demo';
import { UsageError } from '../../runtime/cli/args';
import {
  ExitNotification,
  GenerateRequest,
  InitializeRequest,
  InspectDatasetRequest,
  ListCachesRequest,
  LoadModelRequest,
  LogNotification,
  ModelInfoRequest,
  PROTOCOL_VERSION,
  ProgressNotification,
  RunJobRequest,
  ShutdownRequest,
  type JobName,
  type LogParams,
  type ProgressParams,
  type RunJobParams,
  type RuntimeErrorData,
} from '../../runtime/protocol/requests';
import type { JobDefinition } from '../../runtime/server/job';
import { RuntimeServer } from '../../runtime/server/server';
import { tmpDir } from '../helpers/tmp';

interface Harness {
  client: MessageConnection;
  server: RuntimeServer;
  logs: LogParams[];
  progress: ProgressParams[];
  exits: number[];
}

const open: MessageConnection[] = [];
after(() => open.forEach((c) => c.dispose()));

function harness(jobs: Partial<Record<JobName, JobDefinition>>, progressIntervalMs = 100): Harness {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const serverConn = createMessageConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  const exits: number[] = [];
  const server = new RuntimeServer(serverConn, { jobs, cacheLister: async () => [], exit: (c) => void exits.push(c), progressIntervalMs });
  const logs: LogParams[] = [];
  const progress: ProgressParams[] = [];
  client.onNotification(LogNotification, (p) => void logs.push(p));
  client.onNotification(ProgressNotification, (p) => void progress.push(p));
  serverConn.listen();
  client.listen();
  open.push(client, serverConn);
  return { client, server, logs, progress, exits };
}

let seq = 0;
const job = (name: JobName, args: string[] = []): RunJobParams => ({ jobId: `t${++seq}`, job: name, args });

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
const untilCancelled: JobDefinition = {
  summary: 'waits',
  async run(ctx) {
    ctx.progress(0, 100, 'waiting');
    while (!ctx.signal.aborted) await new Promise((r) => setTimeout(r, 5));
    ctx.signal.throwIfAborted();
  },
};

describe('runtime server handlers', () => {
  it('initialize answers the protocol, version, pid and the registered jobs only', async () => {
    const h = harness({ demo: untilCancelled, sweep: untilCancelled });
    const r = await h.client.sendRequest(InitializeRequest, { protocolVersion: PROTOCOL_VERSION, client: 'test' });
    assert.equal(r.protocolVersion, PROTOCOL_VERSION);
    assert.equal(r.pid, process.pid);
    assert.equal(r.nodeVersion, process.version);
    assert.match(r.runtimeVersion, /^\d+\.\d+\.\d+/);
    assert.deepEqual(r.jobs, ['demo', 'sweep']);
  });

  it('an unknown job is refused naming the jobs there are', async () => {
    const h = harness({ demo: untilCancelled });
    const e = await rejection(h.client.sendRequest(RunJobRequest, job('evaluate')));
    assert.equal(e.data?.kind, 'unknown-job');
    assert.equal(e.code, 6);
    assert.match(e.message, /no 'evaluate' job/);
    assert.equal(e.data?.hint, 'It has: demo.');
  });

  it('classifies failures: usage, data, io, internal (with the stack in the log)', async () => {
    const failing = (err: Error): JobDefinition => ({
      summary: 'fails',
      async run() {
        throw err;
      },
    });
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
      const e = await rejection(h.client.sendRequest(RunJobRequest, job(name)));
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
    const first = h.client.sendRequest(RunJobRequest, job('demo'), cts.token);
    first.catch(() => {});
    while (h.progress.length === 0) await new Promise((r) => setTimeout(r, 5));
    const busy = await rejection(h.client.sendRequest(RunJobRequest, job('sweep')));
    assert.equal(busy.data?.kind, 'busy');
    assert.match(busy.message, /busy \(job demo\)/);
    assert.equal(await h.client.sendRequest(ModelInfoRequest, {}), null);
    assert.deepEqual(await h.client.sendRequest(ListCachesRequest, { folder: '/nowhere' }), []);
    const t0 = Date.now();
    cts.cancel();
    const e = await rejection(first);
    assert.equal(e.data?.kind, 'cancelled');
    assert.equal(e.code, -32800);
    assert.ok(Date.now() - t0 < 1000, 'stopped at its next check');
    // Free again.
    const cts2 = new CancellationTokenSource();
    const again = h.client.sendRequest(RunJobRequest, job('sweep'), cts2.token);
    cts2.cancel();
    assert.equal((await rejection(again)).data?.kind, 'cancelled');
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
    const running = h.client.sendRequest(RunJobRequest, job('demo'), cts.token);
    running.catch(() => {});
    while (h.progress.length === 0) await new Promise((r) => setTimeout(r, 5));

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
      demo: {
        summary: 'x',
        async run(ctx) {
          ctx.progress(0, 1);
          while (!ctx.signal.aborted) await new Promise((r) => setTimeout(r, 5));
          throw new Error('session closed mid-run');
        },
      },
    });
    const cts = new CancellationTokenSource();
    const p = h.client.sendRequest(RunJobRequest, job('demo'), cts.token);
    while (h.progress.length === 0) await new Promise((r) => setTimeout(r, 5));
    cts.cancel();
    assert.equal((await rejection(p)).data?.kind, 'cancelled');
  });

  it('throttles progress, never goes backwards, always sends the last; output and files come back', async () => {
    const h = harness(
      {
        demo: {
          summary: 'x',
          async run(ctx) {
            for (let i = 0; i <= 1000; i++) ctx.progress(i, 1000, `item ${i}`);
            ctx.progress(500, 1000);
            ctx.log('warn', 'something to note');
            ctx.io.out('line 1');
            return { output: 'line 2', files: ['relative/run.json'] };
          },
        },
      },
      1000,
    );
    const params = job('demo', ['--x', 'a b']);
    const r = await h.client.sendRequest(RunJobRequest, params);
    assert.equal(r.output, 'line 1\nline 2');
    assert.deepEqual(r.files, [path.resolve('relative/run.json')]);
    assert.equal(r.jobId, params.jobId);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      h.progress.map((p) => [p.done, p.message]),
      [
        [0, 'item 0'],
        [1000, 'item 1000'],
      ],
    );
    assert.ok(h.logs.some((l) => l.level === 'warn' && l.message === 'something to note' && l.jobId === params.jobId));
    assert.ok(h.logs.some((l) => l.message === "demo --x 'a b'"), 'the argv is logged as a shell line');
  });

  it('a step held back by the throttle is sent when the interval is over, and none after the response', async () => {
    const h = harness(
      {
        demo: {
          summary: 'x',
          async run(ctx) {
            ctx.progress(0, 4, 'writing');
            ctx.progress(1, 4, 'caching'); // within the interval: held back…
            ctx.progress(2, 4, 'directions'); // …and replaced by the newer step
            await new Promise((r) => setTimeout(r, 130)); // sent at 100 ms
            ctx.progress(3, 4, 'sweeping'); // held back, and the job ends first: never sent
          },
        },
      },
      100,
    );
    await h.client.sendRequest(RunJobRequest, job('demo'));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      h.progress.map((p) => [p.done, p.message]),
      [
        [0, 'writing'],
        [2, 'directions'],
      ],
    );
  });

  it('generate needs a loaded model; loadModel names a bad path', async () => {
    const h = harness({});
    const e = await rejection(h.client.sendRequest(GenerateRequest, { prompt: 'x', maxNewTokens: 1 }));
    assert.equal(e.data?.kind, 'no-model');
    assert.match(e.data?.hint ?? '', /Select Model/);
    const bad = await rejection(h.client.sendRequest(LoadModelRequest, { path: '/no/such/model', provider: 'cpu' }));
    assert.equal(bad.data?.kind, 'model');
    assert.match(bad.message, /\/no\/such\/model: no such file or folder/);
    const provider = await rejection(h.client.sendRequest(LoadModelRequest, { path: '/x', provider: 'gpu' as never }));
    assert.equal(provider.data?.kind, 'usage');
  });

  it('jobs share the loaded model when they name the same one', async () => {
    const dir = writeDemoModel(path.join(tmpDir(), 'demo')).dir;
    const shared: boolean[] = [];
    const h = harness({
      demo: {
        summary: 'x',
        async run(ctx) {
          for (const provider of ['cpu', 'auto']) {
            const lease = await ctx.openModel({ model: dir, provider });
            shared.push(lease.shared);
            await lease.release();
          }
        },
      },
    });
    const info = await h.client.sendRequest(LoadModelRequest, { path: dir, provider: 'cpu' });
    assert.deepEqual([info.architecture, info.nBlocks, info.dModel, info.hookPoints, info.provider], ['llama', 2, 64, 4, 'cpu']);
    await h.client.sendRequest(RunJobRequest, job('demo'));
    assert.deepEqual(shared, [true, false], 'same model and provider → shared; other provider → its own');
    // The shared lease's release left the model loaded.
    const g = await h.client.sendRequest(GenerateRequest, { prompt: 'hi', maxNewTokens: 3 });
    assert.equal(g.newTokens, 3);
    assert.equal((await h.client.sendRequest(ModelInfoRequest, {}))?.path, dir);
  });

  it('shutdown cancels the running job and releases; exit then uses code 0 (1 without shutdown)', async () => {
    const h = harness({ demo: untilCancelled });
    const running = h.client.sendRequest(RunJobRequest, job('demo'));
    running.catch(() => {});
    while (h.progress.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await h.client.sendRequest(ShutdownRequest), null);
    assert.equal((await rejection(running)).data?.kind, 'cancelled');
    const after = await rejection(h.client.sendRequest(RunJobRequest, job('demo')));
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
