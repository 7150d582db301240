/**
 * Peak memory of one model through the phases a user goes through, measured inside a fresh
 * process (run it as a child: `node --import tsx bench/memoryProbe.ts '<json>'`, or through
 * `dist/bench.js --memory-probe '<json>'`), printed as one JSON line:
 *
 *   load → prefill (128 tokens, every hook read) → decode (16 KV-cached steps) → first
 *   intervention → sweep (16 interventions over layers, scales and directions, 4 new tokens each)
 *   → each further model variant (huginn num_steps), opened after releasing the previous one.
 *
 * Each phase's peak is the kernel's resident-set high-water mark (VmHWM), reset at the start of the
 * phase (/proc/self/clear_refs), minus the RSS of Node with LayerLab loaded and ONNX Runtime
 * started (one tiny session run, so its code and threads are resident) and no model open; ratios are to the model's weight bytes (each parameter once, at its precision).
 * `twoCopies` opens a second session of the same graph before the first intervention and keeps
 * it, as LayerLab did before one graph served reads and edits: the memory test uses it to show
 * that it would catch a second copy of the weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateGreedy } from '../runtime/generate';
import { openModel, type OpenedModel } from '../runtime/openModel';
import { OrtSession, warmUpRuntime } from '../runtime/ort/session';
import type { ModelOptions } from '../models/load';
import type { WeightPrecision } from '../models/graph/weights';

export interface MemoryProbeRequest {
  model: string;
  graphCacheDir: string;
  weights?: WeightPrecision;
  threads?: number;
  /** Model options of the first variant and of each one opened after it (huginn num_steps). */
  variants?: ModelOptions[];
  twoCopies?: boolean;
  /** Stop after opening the first variant (to measure a first open, conversion included). */
  openOnly?: boolean;
}

export interface MemoryProbeResult {
  baselineMB: number;
  weightsMB: number;
  /** Phase name → peak RSS above the baseline, in MB. */
  peaksMB: Record<string, number>;
  /** Highest peak over every phase, as a multiple of the weight bytes. */
  worstRatio: number;
  worstPhase: string;
  /** Seconds to open the first variant (converting and building it when `built`). */
  loadSeconds: number;
  built: boolean;
}

const HWM = /VmHWM:\s+(\d+) kB/;

function peakMB(): number {
  const m = HWM.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : (process.resourceUsage().maxRSS * 1024) / 2 ** 20;
}

function resetPeak(): void {
  try {
    // "5" resets the high-water mark of the resident set (Linux ≥ 4.0).
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // elsewhere the peak is cumulative, which only overstates later phases
  }
}

function rssMB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

function unit(d: number, seed: number): Float32Array {
  const v = Float32Array.from({ length: d }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

export async function runMemoryProbe(req: MemoryProbeRequest): Promise<MemoryProbeResult> {
  const variants = req.variants?.length ? req.variants : [{}];
  await warmUpRuntime();
  const baselineMB = rssMB();
  const peaksMB: Record<string, number> = {};
  const phase = async (name: string, fn: () => Promise<unknown>) => {
    resetPeak();
    await fn();
    peaksMB[name] = peakMB() - baselineMB;
  };
  let opened: OpenedModel | undefined;
  let extra: OrtSession | undefined;
  let loadSeconds = 0;
  let weightsMB = 0;
  let built = false;
  for (const [i, modelOptions] of variants.entries()) {
    const tag = variants.length > 1 ? ` (${JSON.stringify(modelOptions)})` : '';
    if (opened) await opened.model.release();
    opened = undefined;
    await phase(`load${tag}`, async () => {
      const t0 = Date.now();
      opened = await openModel(req.model, { provider: 'cpu', threads: req.threads, graphCacheDir: req.graphCacheDir, modelOptions, weights: req.weights });
      if (i === 0) loadSeconds = (Date.now() - t0) / 1000;
    });
    const o = opened!;
    if (i === 0 && o.built) {
      built = true;
      peaksMB['first open (convert + load)'] = peaksMB[`load${tag}`];
      delete peaksMB[`load${tag}`];
    }
    weightsMB = Math.max(weightsMB, o.model.spec.weightsBytes / 2 ** 20);
    if (req.openOnly) break;
    const nBlocks = o.model.spec.nBlocks;
    const d = o.model.spec.dModel;
    const prompt = Array.from({ length: 128 }, (_, k) => 3 + ((k * 37) % 200));
    const reads = Array.from({ length: nBlocks }, (_, l) => ({ hook: `blocks.${l}.hook_resid_post`, positions: 'last' as const }));
    if (i > 0) {
      // A further variant: what caching hidden states does with it (no logits, no KV copied out).
      await phase(`prefill${tag}`, () => o.model.forward([prompt], undefined, { reads, readsOnly: true }));
      continue;
    }
    await phase(`prefill${tag}`, () => o.model.forward([prompt], undefined, { reads }));
    await phase('decode', () => generateGreedy(o.model, o.tokenizer, [prompt.slice(0, 16)], { maxNewTokens: 16, stopAtEos: false }));
    if (req.twoCopies) {
      extra = await OrtSession.create(path.join(o.model.dir, o.model.spec.graph), { provider: 'cpu', threads: req.threads });
    }
    const mid = Math.floor(nBlocks / 2);
    await phase('first intervention', () =>
      o.model.forward([prompt], undefined, { reads, edits: [{ hook: `blocks.${mid}.hook_resid_post`, scale: 2, direction: unit(d, 1) }] }),
    );
    await phase('sweep of 16 interventions', async () => {
      for (let k = 0; k < 16; k++) {
        const hook = `blocks.${k % nBlocks}.hook_resid_${k % 2 ? 'post' : 'pre'}`;
        await generateGreedy(o.model, o.tokenizer, [prompt.slice(0, 32)], {
          maxNewTokens: 4,
          stopAtEos: false,
          edits: [{ hook, scale: [-4, -1, 1, 4][k % 4], direction: unit(d, k + 2), add: k % 3 ? undefined : unit(d, 100 + k).map((x) => 0.1 * x) }],
        });
      }
    });
  }
  await opened?.model.release();
  await extra?.release();
  let worstPhase = '';
  let worst = -Infinity;
  for (const [name, mb] of Object.entries(peaksMB)) {
    if (mb > worst) [worst, worstPhase] = [mb, name];
  }
  return { baselineMB, weightsMB, peaksMB, worstRatio: worst / weightsMB, worstPhase, loadSeconds, built };
}

// Run as a script (not when bundled into dist/bench.js, which has its own --memory-probe).
if (require.main === module && /memoryProbe\.ts$/.test(process.argv[1] ?? '')) {
  runMemoryProbe(JSON.parse(process.argv[2]) as MemoryProbeRequest)
    .then((r) => process.stdout.write(JSON.stringify(r) + '\n'))
    .catch((e) => {
      console.error(e?.stack ?? e);
      process.exit(1);
    });
}
