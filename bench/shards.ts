/**
 * Sharding (issue 17): the same save-hidden-states job as one process, and as 2 parts run at
 * once (`--shard 0/2`, `--shard 1/2`, the last merging), each a real `layerlab` process, timed
 * wall-clock from start to the merged cache. On a cluster each part gets its own machine; here
 * the parts share this machine's cores, so the figure that transfers is the scaling efficiency
 * of 1-thread parts against a 1-thread process (each part doing half the work on one core), and
 * the overhead it leaves is what every part repeats: starting, loading the model, tokenizing
 * every prompt, and the merge.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoDataset } from '../datasets/demo';
import { midModelDir } from './runtime';
import { median, table } from './util';

/** The CLI beside this bundle (dist/cli.js next to dist/bench.js). */
const CLI = path.join(__dirname, 'cli.js');

/**
 * Preloaded into each layerlab process: appends the process's CPU seconds (every thread, user +
 * system) to $LAYERLAB_BENCH_CPU when it exits. Wall-clock time on a shared machine measures the
 * neighbours too; CPU seconds measure the work, and a 1-thread part on a core of its own (a
 * cluster node) takes about as long as its CPU seconds.
 */
const CPU_PROBE = "process.on('exit',()=>{const u=process.cpuUsage();require('fs').appendFileSync(process.env.LAYERLAB_BENCH_CPU,(u.user+u.system)/1e6+'\\n')})";

interface Timing {
  wall: number;
  /** CPU seconds of each process. */
  cpu: number[];
}

function timeProcesses(argvs: string[][], env: Record<string, string>, dir: string): Timing {
  const probe = path.join(dir, 'cpu-probe.js');
  fs.writeFileSync(probe, CPU_PROBE);
  const cpuFile = path.join(dir, 'cpu-seconds.txt');
  fs.rmSync(cpuFile, { force: true });
  // One shell starts the processes at once and waits for all: their wall clock, start to last exit.
  const quote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
  const line = argvs.map((a) => [process.execPath, '--require', probe, CLI, ...a].map(quote).join(' ') + ' > /dev/null 2>> "$LOG" & pids="$pids $!"').join('\n');
  const log = path.join(dir, 'shards-bench.log');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/bin/sh', ['-c', `pids=\n${line}\nfail=0\nfor p in $pids; do wait $p || fail=1; done\nexit $fail`], {
    env: { ...process.env, ...env, LOG: log, LAYERLAB_BENCH_CPU: cpuFile },
    stdio: 'inherit',
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`a layerlab process failed (see ${log})`);
  return { wall, cpu: fs.readFileSync(cpuFile, 'utf8').trim().split('\n').map(Number) };
}

export async function benchShards(root: string, quick: boolean): Promise<string> {
  if (!fs.existsSync(CLI)) return `skipped: ${CLI} is missing (npm run build)`;
  const n = quick ? 32 : 256;
  const reps = quick ? 1 : 3;
  const dataFile = path.join(root, `shards-bench-${n}.json`);
  writeDemoDataset(dataFile, { n, seed: 11 });
  const model = midModelDir(root);
  const env = { LAYERLAB_CACHE_DIR: path.join(root, 'shards-cache'), ORT_DISABLE_TELEMETRY: '1' };
  const out = (name: string) => path.join(root, 'shards-out', name);
  const args = (o: string, threads: number, shard?: string) => [
    'save-hidden-states', '--model', model, '--data_file_path', dataFile, '--data_batch_size', '1', '--output_path', o, '--threads', String(threads), '--provider', 'cpu',
    ...(shard ? ['--shard', shard] : []),
  ];
  const cacheOf = (o: string) => path.join(o, path.basename(model), `${path.basename(dataFile, '.json')}.safetensors`);
  const variants: Record<string, (o: string) => string[][]> = {
    '1 process, 2 threads': (o) => [args(o, 2)],
    '1 process, 1 thread': (o) => [args(o, 1)],
    '2 parts at once, 1 thread each': (o) => [args(o, 1, '0/2'), args(o, 1, '1/2')],
  };
  // Warm-up: builds the model's graph once (every later process loads it) and gives the reference bytes.
  fs.rmSync(out(''), { recursive: true, force: true });
  fs.mkdirSync(out(''), { recursive: true });
  timeProcesses([args(out('warm'), 2)], env, out(''));
  const reference = createHash('sha256').update(fs.readFileSync(cacheOf(out('warm')))).digest('hex');
  const runs: Record<string, Timing[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < reps; r++) {
    for (const [name, argvs] of Object.entries(variants)) {
      const o = out(`${r}-${name.replace(/\W+/g, '-')}`);
      runs[name]!.push(timeProcesses(argvs(o), env, out('')));
      // Every variant must write the same cache, or its time means nothing.
      const got = createHash('sha256').update(fs.readFileSync(cacheOf(o))).digest('hex');
      if (got !== reference) throw new Error(`${name}: the cache differs from the unsharded one`);
      fs.rmSync(o, { recursive: true, force: true });
    }
  }
  const wall = (k: string) => median(runs[k]!.map((t) => t.wall));
  const cpuTotal = (k: string) => median(runs[k]!.map((t) => t.cpu.reduce((a, b) => a + b, 0)));
  const cpuSlowest = (k: string) => median(runs[k]!.map((t) => Math.max(...t.cpu)));
  const one = '1 process, 1 thread';
  const two = '2 parts at once, 1 thread each';
  const rows: (string | number)[][] = [['variant', 'wall s', 'CPU s, all processes', 'CPU s, slowest process', 'wall vs 1 process, 1 thread']];
  for (const k of Object.keys(variants)) rows.push([k, wall(k), cpuTotal(k), cpuSlowest(k), `${(wall(one) / wall(k)).toFixed(2)}×`]);
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  return [
    `${n} demo-dataset records through the mid-size model (d 512, 8 blocks), batch 1, every block output at the last token; each variant as real layerlab processes (start, load, cache, and for parts the merge), medians of ${reps}; every variant's cache checked byte-identical to the unsharded one:`,
    table(rows),
    `scaling efficiency of 2 parts at once on this machine's 2 cores (wall clock): ${pct(wall(one) / wall(two) / 2)} (speed-up ${(wall(one) / wall(two)).toFixed(2)}× of an ideal 2×)`,
    `work efficiency (CPU s of 1 process / CPU s of both parts): ${pct(cpuTotal(one) / cpuTotal(two))}; on dedicated cores (a cluster), 2 parts would take about the slowest part's CPU s: ${pct(cpuTotal(one) / cpuSlowest(two) / 2)} efficiency`,
  ].join('\n');
}
