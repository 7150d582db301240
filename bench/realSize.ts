/**
 * Real-size models (issue 10), on a generated Qwen2-0.5B-shaped checkpoint (real config
 * dimensions, random weights, bf16 shards): side by side for fp32, int8 and int4 weights,
 *  (a) weight bytes; first open (conversion + load) and later open: seconds and peak RSS;
 *  (b) peak RSS / weight bytes for load, prefill, decode, first intervention and a sweep of 16
 *      interventions, each measured in a fresh child process (bench/memoryProbe.ts);
 *  (c) prefill and decode tokens/s, all precisions loaded at once and timed interleaved;
 *  (d) check-model's figures for each precision.
 * Speed and memory only: what the model says is noise (random weights).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { writeQwen2Shaped, type Qwen2Dims } from './checkpoints';
import type { MemoryProbeRequest, MemoryProbeResult } from './memoryProbe';
import { interleavedCpu, table } from './util';
import type { WeightPrecision } from '../models/graph/weights';
import { generateGreedy } from '../runtime/generate';
import { openModel, type OpenedModel } from '../runtime/openModel';
import { checkModel } from '../runtime/check/checkModel';

const PRECISIONS: WeightPrecision[] = ['fp32', 'int8', 'int4'];

/** Runs one memory probe in a fresh process (dist/bench.js --memory-probe, or the .ts through tsx). */
export function memoryProbeChild(req: MemoryProbeRequest): MemoryProbeResult {
  const script = process.argv[1];
  const args = script.endsWith('.ts') ? ['--import', 'tsx', path.join(__dirname, 'memoryProbe.ts'), JSON.stringify(req)] : [script, '--memory-probe', JSON.stringify(req)];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' }, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`memory probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as MemoryProbeResult;
}

export async function benchRealSize(root: string, quick: boolean): Promise<string> {
  const dims: Partial<Qwen2Dims> = quick ? { num_hidden_layers: 2, vocab_size: 32000 } : {};
  const model = writeQwen2Shaped(path.join(root, quick ? 'qwen2-shaped-quick' : 'qwen2-0.5b-shaped'), dims);
  const graphCacheDir = path.join(root, 'real-size-graphs');
  const out: string[] = [`model: generated Qwen2-0.5B-shaped checkpoint${quick ? ' (quick: 2 layers, vocab 32000)' : ''} (${model})`];

  // (a) + (b): every measurement in a fresh process.
  const mem: Record<string, { first: MemoryProbeResult; later: MemoryProbeResult }> = {};
  for (const weights of PRECISIONS) {
    const first = memoryProbeChild({ model, graphCacheDir, weights, openOnly: true });
    const later = memoryProbeChild({ model, graphCacheDir, weights });
    mem[weights] = { first, later };
  }
  const ratio = (r: MemoryProbeResult, phase: string) => (r.peaksMB[phase] === undefined ? '—' : `${(r.peaksMB[phase] / r.weightsMB).toFixed(2)}×`);
  out.push('\n(a) opening (peak RSS above the baseline, as a multiple of the weight bytes; the first open converts the checkpoint):');
  out.push(
    table([
      ['weights', 'weight bytes', 'first open', 'first open peak', 'later open', 'later open peak'],
      ...PRECISIONS.map((p) => {
        const { first, later } = mem[p];
        const firstPhase = first.built ? 'first open (convert + load)' : 'load';
        return [p, `${(later.weightsMB * 2 ** 20 / 1e6).toFixed(0)} MB`, `${first.loadSeconds.toFixed(1)} s${first.built ? '' : ' (was cached)'}`, ratio(first, firstPhase), `${later.loadSeconds.toFixed(1)} s`, ratio(later, 'load')];
      }),
    ]),
  );
  out.push('\n(b) peak RSS above the baseline / weight bytes, each phase in a fresh process (target ≤ 1.30×):');
  const phases = ['load', 'prefill', 'decode', 'first intervention', 'sweep of 16 interventions'];
  out.push(table([['weights', ...phases], ...PRECISIONS.map((p) => [p, ...phases.map((ph) => ratio(mem[p].later, ph))])]));

  // (c) speed: all precisions open at once, timed interleaved.
  const opened: Record<string, OpenedModel> = {};
  // One thread: CPU seconds then measure the work itself, not what other processes leave of the machine.
  for (const weights of PRECISIONS) opened[weights] = await openModel(model, { provider: 'cpu', threads: 1, graphCacheDir, weights });
  const prompt = Array.from({ length: 128 }, (_, k) => 3 + ((k * 37) % 250));
  const newTokens = quick ? 8 : 32;
  const reps = quick ? 1 : 3;
  const prefill = await interleavedCpu(Object.fromEntries(PRECISIONS.map((p) => [p, () => opened[p].model.forward([prompt])])), reps);
  const decode = await interleavedCpu(
    Object.fromEntries(PRECISIONS.map((p) => [p, () => generateGreedy(opened[p].model, opened[p].tokenizer, [prompt.slice(0, 16)], { maxNewTokens: newTokens, stopAtEos: false })])),
    reps,
  );
  const provider = opened.fp32.model.provider.provider;
  for (const p of PRECISIONS) await opened[p].model.release();
  out.push(`\n(c) speed, median of ${reps} interleaved runs (${provider}, 1 thread): prefill of 128 tokens; greedy decoding of ${newTokens} tokens after 16 (prefill included); per CPU second and per wall-clock second:`);
  out.push(
    table([
      ['weights', 'prefill tok/CPU-s', 'prefill tok/s wall', 'decode tok/CPU-s', 'decode tok/s wall', 'decode vs fp32 (CPU)'],
      ...PRECISIONS.map((p) => [p, 128 / prefill[p].cpu, 128 / prefill[p].wall, newTokens / decode[p].cpu, newTokens / decode[p].wall, `${(decode.fp32.cpu / decode[p].cpu).toFixed(2)}×`]),
    ]),
  );

  // (d) check-model: the fp32 graph against the reference, each other precision against fp32.
  if (!quick) {
    out.push('\n(d) check-model (4 prompts, 8 tokens each):');
    const rows: (string | number)[][] = [['comparison', 'largest relative hook difference', 'top-1 agreement', 'mean KL', 'verdict']];
    for (const weights of ['int8', 'int4'] as const) {
      const r = await checkModel({ model, weights, provider: 'cpu', graphCacheDir, maxTokens: 8 });
      for (const c of r.comparisons) {
        if (weights === 'int4' && c.subject === 'fp32 graph') continue;
        rows.push([`${c.subject} vs ${c.baseline}`, Math.max(...c.blocks.map((b) => b.maxRelativeDiff)).toExponential(2), `${(c.nextToken.top1Agreement * 100).toFixed(1)}%`, c.nextToken.meanKl.toExponential(2), c.verdict + (c.reasons.length ? ` (${c.reasons.join('; ')})` : '')]);
      }
    }
    out.push(table(rows));
  }
  return out.join('\n');
}
