// The extension's runtime client against the real runtime process (spawned through tsx, and
// once as the esbuild bundle that ships): lifecycle, the model lease, generation, the demo
// pipeline as a typed job with work-done progress (cache → directions → sweep), cancellation
// mid-cache and mid-sweep with resumption, every job with typed params and results, output
// discipline, crash → restart → budget exhausted, graceful and forced shutdown, and the
// runtime's exit when its parent dies.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import * as esbuild from 'esbuild';
import { RuntimeClient, RuntimeRequestError, type RuntimeClientOptions } from '../../extension/runtimeClient';
import { RestartBudget } from '../../extension/runtimeState';
import type { JobProgress } from '../../runtime/protocol/jobs';
import type { LogLevel } from '../../runtime/protocol/requests';
import type { RunFile } from '../../runtime/protocol/results';
import { tmpDir } from '../helpers/tmp';

const REPO = path.resolve(__dirname, '..', '..');
const MAIN = path.join(REPO, 'runtime', 'server', 'main.ts');
const NOISY = path.join(REPO, 'test', 'extension', 'noisyRuntime.ts');
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };

const children: ChildProcess[] = [];
const clients: RuntimeClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function spawnRuntime(entry = MAIN, extra: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, '--parent-pid', String(process.pid), ...extra], { cwd: REPO, env });
  children.push(child);
  return child;
}

interface Made {
  client: RuntimeClient;
  logs: { level: LogLevel; message: string }[];
  spawned: ChildProcess[];
  gaveUp: string[];
}

function makeClient(opts: Partial<RuntimeClientOptions> & { entry?: string } = {}): Made {
  const logs: Made['logs'] = [];
  const spawned: ChildProcess[] = [];
  const gaveUp: string[] = [];
  const client = new RuntimeClient({
    spawn: () => {
      const c = spawnRuntime(opts.entry);
      spawned.push(c);
      return c;
    },
    clientName: 'test',
    log: (level, message) => void logs.push({ level, message }),
    onGaveUp: (m) => void gaveUp.push(m),
    restartDelayMs: 20,
    ...opts,
  });
  clients.push(client);
  return { client, logs, spawned, gaveUp };
}

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

async function rejection(p: Promise<unknown>): Promise<RuntimeRequestError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RuntimeRequestError, `expected a RuntimeRequestError, got ${e}`);
    return e;
  }
  assert.fail('expected the request to fail');
}

const work = tmpDir('layerlab-rt-');
const modelsPath = path.join(work, 'models');
const datasetsPath = path.join(work, 'datasets');
const demoParams = (out: string) => ({ modelsPath, datasetsPath, outputPath: out, provider: 'cpu' as const });
/** Where the demo writes under an output folder. */
const demoOut = (out: string) => ({
  cache: path.join(out, 'hidden_states', 'demo', 'demo-reason-mem.safetensors'),
  stats: path.join(out, 'hidden_states', 'demo', 'demo-reason-mem.directions.json'),
  runsDir: path.join(out, 'runs', 'demo'),
});
const runFilesIn = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f)) : []);
const readRun = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;

describe('runtime process through the client', () => {
  it('starts, runs the demo pipeline with progress, loads its model, generates, and stops gracefully', async () => {
    const { client, spawned, logs } = makeClient();
    const states: string[] = [];
    // The listeners also hear that the held model changed: only state transitions are kept.
    client.onDidChangeState(() => states.at(-1) !== client.state && states.push(client.state));
    await client.start();
    assert.equal(client.state, 'ready');
    assert.equal(client.info?.pid, spawned[0].pid);
    assert.equal(client.info?.nodeVersion, process.version);

    const progress: JobProgress[] = [];
    const out = path.join(work, 'out1');
    const r = await client.runJob('demo', demoParams(out), { onProgress: (p) => progress.push(p) });
    const o = demoOut(out);
    const [run] = runFilesIn(o.runsDir);
    assert.ok(run, `a run file in ${o.runsDir}`);
    assert.match(path.basename(run), /^demo-reason-mem\.sweep\.[0-9a-f]+\.json$/);
    assert.deepEqual(
      [r.runFile, r.statsFile, r.cacheFile, r.modelDir, r.dataFile],
      [run, o.stats, o.cache, path.join(modelsPath, 'demo'), path.join(datasetsPath, 'demo-reason-mem.json')],
      'the typed result names every file',
    );
    const file = readRun(run);
    assert.equal(file.format, 'layerlab-run');
    assert.equal(file.complete, true);
    assert.equal(file.spec.command, 'sweep');
    assert.equal(file.provider, 'cpu');
    assert.deepEqual([...new Set(file.results.map((x) => x.intervention.kind))], ['none', 'direction', 'random-direction'], 'baseline, directions, random controls');
    assert.deepEqual([file.progress.done, file.progress.total], [file.progress.total, file.progress.total]);
    assert.equal(JSON.parse(fs.readFileSync(o.stats, 'utf8')).format, 'layerlab-directions');

    assert.ok(progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done), 'never backwards');
    assert.deepEqual([progress.at(-1)!.done, progress.at(-1)!.total], [4, 4]);
    // Each step reaches the client, however quickly the next follows (the throttle sends the
    // report it held back).
    const steps = progress.map((p) => p.message);
    for (const m of ['caching hidden states', 'computing directions', 'sweeping interventions']) assert.ok(steps.includes(m), `progress '${m}' in ${JSON.stringify(steps)}`);

    // The demo's model is still leased: "Select Model" on it (the info job) reuses it.
    const demoModel = { model: path.join(modelsPath, 'demo'), provider: 'cpu' as const };
    assert.equal(client.model?.path, demoModel.model, 'the runtime said which model it holds');
    const before = (await client.runtimeStatus()).sessionsCreated;
    const info = await client.runJob('info', demoModel);
    // The demo model is the model organism (models/organism/config.json).
    assert.deepEqual([info.architecture, info.nBlocks, info.dModel, info.vocabSize, info.hookPoints, info.provider], ['llama', 4, 128, 259, 8, 'cpu']);
    assert.deepEqual(info.blocks.map((b) => b.label), ['layer 0', 'layer 1', 'layer 2', 'layer 3']);
    assert.deepEqual(await client.modelInfo(), info);
    const g = await client.runJob('generate', { ...demoModel, prompt: 'Q: 2+2?\nA:', maxNewTokens: 5 });
    assert.equal(g.newTokens, 5);
    assert.equal(g.stopReason, 'max-new-tokens');
    assert.equal((await client.runtimeStatus()).sessionsCreated, before, 'info and generate reused the leased model');

    const exited = exitOf(spawned[0]);
    await client.stop();
    assert.deepEqual(await exited, { code: 0, signal: null }, 'shutdown + exit → code 0');
    assert.equal(client.state, 'stopped');
    assert.equal(client.model, undefined);
    assert.deepEqual(states.slice(0, 4), ['starting', 'ready', 'busy', 'ready']);
    assert.equal(states.at(-1), 'stopped');
    assert.ok(logs.some((l) => l.message.includes('caching 4 hook points × 200 records')), 'runtime logs reach the client');
    assert.ok(logs.some((l) => l.message.includes('layerlab demo --models_path')), 'the runtime logs the CLI twin of each job');
    assert.ok(!logs.some((l) => l.level === 'error'), `no errors: ${JSON.stringify(logs.filter((l) => l.level === 'error'))}`);
  });

  it('Cancel stops the demo mid-cache and mid-sweep within a batch, never leaves a run marked complete, and the next run resumes and completes', async () => {
    const { client, logs } = makeClient();
    const out = path.join(work, 'out-cancel');
    const o = demoOut(out);

    /** Runs the demo and cancels it when progress says it reached `step`; returns ms from Cancel to the rejection. */
    const cancelAt = async (step: string): Promise<number> => {
      const cts = new CancellationTokenSource();
      let cancelledAt = 0;
      const job = client.runJob('demo', demoParams(out), {
        token: cts.token,
        onProgress: (p) => {
          if (p.message === step && !cancelledAt) {
            cancelledAt = Date.now();
            cts.cancel();
          }
        },
      });
      const e = await rejection(job);
      assert.equal(e.kind, 'cancelled', `cancelled at '${step}': ${e.message}`);
      assert.ok(cancelledAt > 0, `cancelled from the '${step}' progress report`);
      assert.equal(client.state, 'ready');
      return Date.now() - cancelledAt;
    };

    // 1. During the cache step: the cache stays partial (resumable), no directions, no run.
    const ms1 = await cancelAt('caching hidden states');
    assert.ok(ms1 < 2000, `stopped ${ms1} ms after Cancel`);
    assert.ok(!fs.existsSync(o.cache), 'the cache is not marked complete');
    // Cancelled while the prompts were still being tokenized (before the first batch), nothing
    // was written yet; otherwise the committed batches wait in the partial cache.
    const progressFile = `${o.cache}.partial/progress.json`;
    const partial = (fs.existsSync(progressFile) ? JSON.parse(fs.readFileSync(progressFile, 'utf8')) : { rowsDone: 0 }) as { rowsDone: number };
    assert.ok(partial.rowsDone < 200, `the partial cache holds ${partial.rowsDone} of 200 rows`);
    assert.ok(!fs.existsSync(o.stats));
    assert.deepEqual(runFilesIn(o.runsDir), []);

    // 2. During the sweep: the cache was finished first (resumed, not recomputed); the run file
    //    is absent or says it is incomplete.
    const ms2 = await cancelAt('sweeping interventions');
    assert.ok(ms2 < 2000, `stopped ${ms2} ms after Cancel`);
    if (partial.rowsDone > 0) assert.ok(logs.some((l) => l.message.endsWith(`resumed the hidden-state cache after ${partial.rowsDone} records`)), 'the cache resumed');
    assert.ok(fs.existsSync(o.cache), 'the cache finished before the sweep');
    const partialRuns = runFilesIn(o.runsDir);
    assert.ok(partialRuns.length <= 1);
    for (const f of partialRuns) {
      const run = readRun(f);
      assert.equal(run.complete, false, `${f} is marked incomplete`);
      assert.ok(run.progress.done < run.progress.total);
    }

    // 3. Again, uncancelled: complete, in the same run file (its name hashes the experiment).
    const r = await client.runJob('demo', demoParams(out));
    assert.ok(logs.some((l) => l.message.endsWith(`hidden states already cached: ${o.cache}`)));
    const run = r.runFile;
    assert.equal(path.dirname(run), o.runsDir);
    if (partialRuns.length) assert.equal(run, partialRuns[0]);
    assert.equal(readRun(run).complete, true);
    assert.deepEqual(runFilesIn(o.runsDir), [run]);
    await client.stop();
  });

  it('runs every job with typed params, each naming the files it wrote', async () => {
    const { client } = makeClient();
    const out = path.join(work, 'out-twins');
    const data = path.join(datasetsPath, 'demo-reason-mem.json');
    const model = path.join(modelsPath, 'demo');
    assert.ok(fs.existsSync(data) && fs.existsSync(model), 'the demo wrote its model and dataset (earlier test)');
    const cacheDir = path.join(out, 'hidden_states');
    const saved = await client.runJob('save-hidden-states', { model, provider: 'cpu', dataFilePath: data, dataSampleSize: 40, outputPath: cacheDir });
    const cache = path.join(cacheDir, 'demo', 'demo-reason-mem.safetensors');
    assert.deepEqual([saved.cacheFile, saved.records, saved.hooks.length, saved.resumedFrom, saved.alreadyComplete], [cache, 40, 4, 0, false]);
    const dirs = await client.runJob('compute-directions', { cache, holdout: 0.25 });
    assert.deepEqual([dirs.directionsFile, dirs.statsFile], [path.join(cacheDir, 'demo', 'demo-reason-mem.directions.safetensors'), path.join(cacheDir, 'demo', 'demo-reason-mem.directions.json')]);
    assert.deepEqual(dirs.layers.map((l) => l.hook), [0, 1, 2, 3].map((b) => `blocks.${b}.hook_resid_post`));
    const runs = path.join(out, 'runs');
    const ev = await client.runJob('evaluate', {
      model, provider: 'cpu', hiddenStatesCachePath: cache, dataFile: data, scoring: 'loglik', sampleSize: 40, withIntervention: true, layerIndices: [1], scale: 2, outputPath: runs,
    });
    assert.match(ev.lines.join('\n'), /Reasoning Subset Accuracy/);
    const [run] = runFilesIn(path.join(runs, 'demo'));
    assert.equal(ev.runFile, run, 'the typed result names the run file');
    const spec = readRun(run).spec;
    assert.equal(spec.command, 'evaluate');
    assert.deepEqual(spec.argv, ['--model', model, '--provider', 'cpu', '--hidden_states_cache_path', cache, '--data_file', data, '--sample_size', '40', '--scoring', 'loglik', '--output_path', runs, '--with_intervention', '--layer_indices', '1', '--scale', '2'], 'the run file records the CLI twin');
    assert.deepEqual((await client.runJob('inspect-cache', { target: cacheDir })).caches.map((c) => c.file), [cache]);
    await client.stop();
  });

  it('refuses params that do not fit the job: invalid params naming the flag, and nothing runs', async () => {
    const { client } = makeClient();
    const bad = await rejection(client.runJob('evaluate', { model: 'm', scoring: 'vibes' as never }));
    assert.equal(bad.kind, 'usage');
    assert.match(bad.message, /--scoring must be generate or loglik, got 'vibes'/);
    const conflict = await rejection(client.runJob('sweep', { model: 'm', modelName: 'n' }));
    assert.match(conflict.message, /--model conflicts with --model_name/);
    const unknown = await rejection(client.runJob('generate', { model: 'm', temperature: 2 } as never));
    assert.match(unknown.message, /unknown parameter 'temperature' for generate/);
    assert.equal((await client.runtimeStatus()).sessionsCreated, 0);
    await client.stop();
  });

  it('stdout carries protocol only: console output and stray writes arrive as logs, stderr as errors', async () => {
    const { client, logs } = makeClient({ entry: NOISY });
    const r = await client.runJob('sweep', { model: 'x' });
    assert.equal(r.runFile, 'result survives');
    await waitFor('stderr line', () => logs.some((l) => l.message === '[runtime stderr] raw stderr write'));
    const find = (level: LogLevel, text: string) => logs.some((l) => l.level === level && l.message.includes(text));
    assert.ok(find('info', 'console.log text 42'));
    assert.ok(find('info', 'console.info text'));
    assert.ok(find('warn', 'console.warn text'));
    assert.ok(find('error', 'console.error text'));
    assert.ok(find('info', '(stdout) raw stdout write'));
    assert.ok(find('error', '[runtime stderr] raw stderr write'));
    // The connection is intact after all that.
    assert.equal((await client.runJob('sweep', { model: 'x' })).runFile, 'result survives');
    await client.stop();
  });

  it('crash → restart, three times; the fourth crash within 3 minutes stops it with a clear message; Restart Runtime recovers', async () => {
    const { client, spawned, gaveUp, logs } = makeClient({ entry: NOISY, restartBudget: new RestartBudget(3, 180_000) });
    await client.start();

    // A crash under a running job fails that job with an explanation.
    const job = client.runJob('evaluate', { model: 'x' });
    await waitFor('job progress', () => client.progress !== undefined);
    const pid0 = client.info!.pid;
    process.kill(pid0, 'SIGKILL');
    const e = await rejection(job);
    assert.equal(e.kind, 'crashed');
    assert.match(e.message, /the LayerLab runtime stopped unexpectedly \(killed by SIGKILL\)/);
    assert.match(e.hint ?? '', /Show Runtime Log/);

    for (let restart = 1; restart <= 3; restart++) {
      await waitFor(`restart ${restart}`, () => client.state === 'ready' && client.info?.pid !== undefined && spawned.length === restart + 1);
      assert.notEqual(client.info!.pid, pid0);
      assert.equal(client.budget.used, restart);
      if (restart < 3) process.kill(client.info!.pid, 'SIGKILL');
    }
    assert.ok(logs.some((l) => l.level === 'warn' && /restart 3 of 3 restarts within 3 minutes/.test(l.message)));

    process.kill(client.info!.pid, 'SIGKILL');
    await waitFor('giving up', () => gaveUp.length === 1);
    assert.equal(client.state, 'crashed');
    assert.match(gaveUp[0], /stopped unexpectedly again \(killed by SIGKILL\) after 3 restarts within 3 minutes, so it will not be restarted automatically/);
    assert.match(gaveUp[0], /"Restart Runtime"/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(spawned.length, 4, 'no fifth process');
    const refused = await rejection(client.runJob('demo', {}));
    assert.equal(refused.kind, 'crashed');
    assert.equal(refused.message, gaveUp[0]);

    await client.restart();
    assert.equal(client.state, 'ready');
    assert.equal(client.gaveUp, undefined);
    assert.equal(client.budget.used, 0);
    assert.equal(spawned.length, 5);
    await client.stop();
  });

  it('a runtime that does not answer shutdown is killed after the timeout', async () => {
    const { client, spawned } = makeClient({ shutdownTimeoutMs: 300 });
    await client.start();
    process.kill(spawned[0].pid!, 'SIGSTOP');
    const t0 = Date.now();
    await client.stop();
    assert.deepEqual(await exitOf(spawned[0]), { code: null, signal: 'SIGKILL' });
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(client.state, 'stopped');
  });

  it('an executable that cannot start is reported with the setting to fix, without retries', async () => {
    let spawns = 0;
    const { client, gaveUp } = makeClient({
      spawn: () => {
        spawns++;
        return spawn('/nonexistent/node', ['x'], { env });
      },
    });
    const e = await rejection(client.start());
    assert.equal(e.kind, 'crashed');
    assert.match(e.message, /Could not start the LayerLab runtime: spawn \/nonexistent\/node ENOENT\. Check the "layerlab\.nodePath" setting/);
    assert.equal(gaveUp.length, 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(spawns, 1);
    assert.equal(client.state, 'crashed');
  });

  it('a spawner that throws leaves the client crashed with the reason, not stuck starting', async () => {
    const { client, gaveUp } = makeClient({
      spawn: () => {
        throw new Error('EACCES: permission denied');
      },
    });
    const e = await rejection(client.start());
    assert.match(e.message, /Could not start the LayerLab runtime: EACCES: permission denied/);
    assert.equal(client.state, 'crashed');
    assert.equal(gaveUp.length, 1);
  });

  it('a runtime of another protocol version is refused with what to do, and not restarted', async () => {
    // A stand-in runtime that answers initialize with protocol 999.
    const script = `
      const rpc = require(${JSON.stringify(require.resolve('vscode-jsonrpc/node'))});
      const c = rpc.createMessageConnection(new rpc.StreamMessageReader(process.stdin), new rpc.StreamMessageWriter(process.stdout));
      c.onRequest('layerlab/initialize', () => ({ protocolVersion: 999, runtimeVersion: '9.9.9', pid: process.pid, nodeVersion: process.version, platform: process.platform, arch: process.arch }));
      c.listen();`;
    let spawns = 0;
    const { client, gaveUp } = makeClient({
      spawn: () => {
        spawns++;
        const c = spawn(process.execPath, ['-e', script], { env });
        children.push(c);
        return c;
      },
    });
    const e = await rejection(client.start());
    assert.match(e.message, /speaks protocol 999 but the extension speaks 2: dist\/runtime\.js is from another build\. Rebuild \(npm run build\) or reinstall the extension\./);
    await waitFor('the stale runtime to be gone', () => client.state === 'crashed');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(spawns, 1, 'no restart');
    assert.equal(gaveUp.length, 1);
  });

  it('a runtime that never answers initialize is a failed start (killed, and counted against the budget)', async () => {
    const { client, gaveUp } = makeClient({
      // Long enough for a node process to start and write its stderr line on a loaded machine.
      initializeTimeoutMs: 3000,
      restartBudget: new RestartBudget(0, 180_000),
      spawn: () => {
        const c = spawn(process.execPath, ['-e', 'process.stderr.write("stuck before listening\\n"); setInterval(() => {}, 1000)'], { env });
        children.push(c);
        return c;
      },
    });
    const e = await rejection(client.start());
    assert.match(e.message, /failed to start: the runtime did not answer within 3 s/);
    await waitFor('giving up', () => gaveUp.length === 1);
    assert.match(gaveUp[0], /stuck before listening/, "the message quotes the runtime's last error output");
  });
});

describe('runtime process lifetime', () => {
  it('exits when its parent dies even with stdin still open', async () => {
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    children.push(sleeper);
    const rt = spawn(process.execPath, ['--import', 'tsx', MAIN, '--parent-pid', String(sleeper.pid), '--parent-poll-ms', '100'], { cwd: REPO, env });
    children.push(rt);
    let stderr = '';
    rt.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => rt.stdout.once('data', r)); // listening
    const exited = exitOf(rt);
    sleeper.kill('SIGKILL');
    const t0 = Date.now();
    assert.deepEqual(await exited, { code: 1, signal: null });
    assert.ok(Date.now() - t0 < 3000);
    assert.match(stderr, new RegExp(`exiting: parent process ${sleeper.pid} is gone`));
  });

  it('exits when its stdin closes (the client went away)', async () => {
    const rt = spawnRuntime();
    await new Promise((r) => rt.stdout!.once('data', r));
    const exited = exitOf(rt);
    rt.stdin!.end();
    assert.deepEqual(await exited, { code: 1, signal: null });
  });

  it('refuses a bad --parent-pid', async () => {
    const rt = spawn(process.execPath, ['--import', 'tsx', MAIN, '--parent-pid', 'abc'], { cwd: REPO, env });
    children.push(rt);
    let stderr = '';
    rt.stderr.on('data', (d) => (stderr += d));
    assert.deepEqual(await exitOf(rt), { code: 2, signal: null });
    assert.match(stderr, /--parent-pid must be a process id, got 'abc'/);
  });
});

describe('the shipped bundle', () => {
  it('dist/runtime.js as esbuild builds it serves the same protocol', async () => {
    // Same options as scripts/build.mjs; onnxruntime-node stays external and resolves through NODE_PATH.
    // Laid out as in the VSIX: dist/runtime.js, and beside dist/ the model organism the demo copies.
    const outDir = tmpDir('layerlab-bundle-');
    const outfile = path.join(outDir, 'dist', 'runtime.js');
    fs.cpSync(path.join(REPO, 'models', 'organism'), path.join(outDir, 'models', 'organism'), { recursive: true });
    await esbuild.build({
      entryPoints: [MAIN],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: ['onnxruntime-node', 'vscode'],
      logLevel: 'warning',
    });
    const client = new RuntimeClient({
      spawn: () => {
        const c = spawn(process.execPath, [outfile, '--parent-pid', String(process.pid)], { env: { ...env, NODE_PATH: path.join(REPO, 'node_modules') } });
        children.push(c);
        return c;
      },
      clientName: 'bundle test',
      log: () => {},
    });
    clients.push(client);
    await client.start();
    const r = await client.runJob('demo', demoParams(path.join(work, 'out-bundle')));
    assert.equal(readRun(r.runFile).complete, true);
    await client.stop();
    assert.equal(client.state, 'stopped');
  });
});
