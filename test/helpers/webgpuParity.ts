/**
 * Child-process entry for the WebGPU tests (the Vulkan loader and driver are chosen by environment
 * variables that must be set before the process starts): runs the same inputs on the CPU and on
 * WebGPU and prints one JSON line with the largest differences and both greedy continuations.
 *
 *   node --import tsx test/helpers/webgpuParity.ts '{"model": …, "graphCacheDir": …, "weights": "fp32"}'
 *   node --import tsx test/helpers/webgpuParity.ts probe      (why WebGPU cannot start here, or null)
 */
import { allHookNames } from '../../models/graph/spec';
import type { WeightPrecision } from '../../models/graph/weights';
import type { ModelOptions } from '../../models/load';
import { generateGreedy } from '../../runtime/generate';
import { openModel } from '../../runtime/openModel';
import { webgpuUnavailable } from '../../runtime/ort/session';

export interface ParityRequest {
  model: string;
  graphCacheDir: string;
  weights?: WeightPrecision;
  modelOptions?: ModelOptions;
  /** Only open the model on WebGPU (to see it refused), no comparison. */
  openOnly?: boolean;
}

export interface ParityResult {
  provider: string;
  /** Largest |webgpu − cpu| / max |cpu| over every hook point (last position) and the logits, without and with an edit. */
  hooks: number;
  logits: number;
  editedHooks: number;
  editedLogits: number;
  /** The edit changed the outputs on both providers (so the edited comparison means something). */
  editMoved: boolean;
  greedy: { cpu: number[]; webgpu: number[]; cpuEdited: number[]; webgpuEdited: number[] };
}

async function run(req: ParityRequest, provider: 'cpu' | 'webgpu') {
  // The CPU runs fp16 checkpoints' comparison in fp32 (it has no fp16 MatMul).
  const weights = provider === 'cpu' && req.weights === 'fp16' ? 'fp32' : req.weights;
  const o = await openModel(req.model, { provider, threads: 1, graphCacheDir: req.graphCacheDir, weights, modelOptions: req.modelOptions });
  try {
    const spec = o.model.spec;
    const ids = o.tokenizer.encode('Q: 2+2?\nA:', { addBos: true });
    const reads = allHookNames(spec.nBlocks).map((hook) => ({ hook, positions: 'last' as const }));
    const dir = Float32Array.from({ length: spec.dModel }, (_, i) => Math.sin(1 + i * 0.7));
    const norm = Math.hypot(...dir);
    const edits = [{ hook: `blocks.${spec.nBlocks >> 1}.hook_resid_post`, scale: 3, direction: dir.map((x) => x / norm), add: dir.map((x) => (0.5 * x) / norm) }];
    const plain = await o.model.forward([ids], undefined, { reads });
    const edited = await o.model.forward([ids], undefined, { reads, edits });
    const tok = { ...o.tokenizer, eosIds: [] };
    const greedy = (await generateGreedy(o.model, tok, [ids], { maxNewTokens: 8, stopAtEos: false }))[0].ids;
    const greedyEdited = (await generateGreedy(o.model, tok, [ids], { maxNewTokens: 8, stopAtEos: false, edits }))[0].ids;
    return { provider: o.model.provider.provider, plain, edited, greedy, greedyEdited };
  } finally {
    await o.model.release();
  }
}

function relDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return m / scale;
}

async function parity(req: ParityRequest): Promise<ParityResult> {
  const cpu = await run(req, 'cpu');
  const gpu = await run(req, 'webgpu');
  const hooksDiff = (a: typeof cpu.plain, b: typeof cpu.plain) => Math.max(...[...b.reads.keys()].map((k) => relDiff(a.reads.get(k)![0], b.reads.get(k)![0])));
  return {
    provider: gpu.provider,
    hooks: hooksDiff(gpu.plain, cpu.plain),
    logits: relDiff(gpu.plain.logits[0], cpu.plain.logits[0]),
    editedHooks: hooksDiff(gpu.edited, cpu.edited),
    editedLogits: relDiff(gpu.edited.logits[0], cpu.edited.logits[0]),
    editMoved: relDiff(cpu.edited.logits[0], cpu.plain.logits[0]) > 1e-2 && relDiff(gpu.edited.logits[0], gpu.plain.logits[0]) > 1e-2,
    greedy: { cpu: cpu.greedy, webgpu: gpu.greedy, cpuEdited: cpu.greedyEdited, webgpuEdited: gpu.greedyEdited },
  };
}

if (require.main === module) {
  const arg = process.argv[2];
  const req = arg === 'probe' ? undefined : (JSON.parse(arg) as ParityRequest);
  (!req
    ? webgpuUnavailable().then((r) => r ?? null)
    : req.openOnly
      ? openModel(req.model, { provider: 'webgpu', graphCacheDir: req.graphCacheDir, weights: req.weights }).then(async (o) => {
          await o.model.release();
          return { provider: o.model.spec.precision };
        })
      : parity(req))
    .then((r) => process.stdout.write(JSON.stringify(r) + '\n'))
    .catch((e) => {
      process.stdout.write(JSON.stringify({ error: String(e instanceof Error ? e.message : e), name: e?.name }) + '\n');
      process.exit(2);
    });
}
