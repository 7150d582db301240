/**
 * The one module that imports onnxruntime-node. Everything else talks to ONNX Runtime through
 * this wrapper, so the provider choice, threading, memory settings and tensor conversion live in
 * one place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Long from 'long';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';

import { PROVIDER_PREFERENCES, type Provider, type ProviderPreference } from '../protocol/requests';

export { PROVIDER_PREFERENCES, type Provider, type ProviderPreference };

/** ONNX Runtime sessions created in this process (each holds a copy of a graph's weights). */
let created = 0;
export function sessionsCreated(): number {
  return created;
}

export interface SessionOptions {
  provider?: ProviderPreference;
  /** Intra-op threads; 0 or undefined lets ONNX Runtime decide. */
  threads?: number;
}

export type FeedValue =
  | { type: 'float32'; data: Float32Array; dims: readonly number[] }
  | { type: 'int64'; data: BigInt64Array; dims: readonly number[] };

export interface OutputValue {
  data: Float32Array;
  dims: number[];
}

/** The provider a session runs on, and why a preferred one was not used, so `info` can say it. */
export interface ProviderReport {
  provider: Provider;
  note?: string;
}

/** A provider that was asked for by name and cannot run here; the message says what to change. */
export class ProviderUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderUnavailableError';
  }
}

/**
 * Session settings, the same for every provider:
 * - optimization level `all` (fusions such as SimplifiedLayerNormalization);
 * - MatMul weight pre-packing stays on. Without it the CPU session maps the weights file and
 *   needs no copy at all (peak 1.07× the weights instead of 1.18× on a Qwen2-shaped model), but
 *   prefill ran 17% and decoding 24% slower; with the head stored apart from the embedding table
 *   (weights.ts) the packed copy replaces the mapped weights instead of adding to them.
 * - no memory patterns: ONNX Runtime caches one per distinct set of input shapes, and decoding
 *   feeds a new shape (one more past token) at every step; without them the peak of a sweep on
 *   a Qwen2-shaped model fell from 1.20× to 1.16× the weights, at the same speed (measured).
 * - ONNX Runtime's warnings (e.g. WebGPU placing shape arithmetic on the CPU, by design) stay
 *   off stderr, which LayerLab's runtime process reports as errors.
 */
function baseOptions(opts: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    enableMemPattern: false,
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  };
}

export class OrtSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: ProviderReport,
  ) {}

  /**
   * Opens a model file on the provider `choosePreference` resolves: `auto` takes CUDA when its
   * libraries are installed, else WebGPU when a GPU adapter answers, else CPU, and the report says
   * why a preferred provider was passed over. A provider asked for by name that cannot start is
   * an error naming what to change, never a silent fallback.
   */
  static async create(modelPath: string, opts: SessionOptions = {}): Promise<OrtSession> {
    created++;
    const choice = await chooseProvider(opts.provider ?? 'auto');
    const base = baseOptions(opts);
    try {
      const s = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: [choice.provider] });
      return new OrtSession(s, choice);
    } catch (e) {
      if (choice.provider === 'cpu' || (opts.provider ?? 'auto') !== 'auto') throw providerFailure(choice.provider, e);
      // auto: the GPU probe passed but this model does not run there; CPU is always there.
      const s = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cpu'] });
      return new OrtSession(s, { provider: 'cpu', note: `${choice.provider} could not run this model: ${firstLine(e)}` });
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, FeedValue>, fetch: string[]): Promise<Record<string, OutputValue>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, v] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(v.type, v.data, v.dims);
    const result = await this.session.run(ortFeeds, fetch);
    const out: Record<string, OutputValue> = {};
    for (const name of fetch) {
      const t = result[name];
      if (t.type !== 'float32') throw new Error(`output ${name} has type ${t.type}, expected float32`);
      out[name] = { data: t.data as Float32Array, dims: [...t.dims] };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Which provider a preference resolves to on this machine, without loading any model: CUDA needs
 * its provider libraries (onnxruntime-node downloads them only with ONNXRUNTIME_NODE_INSTALL=cuda12),
 * WebGPU needs a GPU adapter (a one-node probe session answers in well under a second).
 * Throws ProviderUnavailableError when a provider asked for by name is missing.
 */
export async function chooseProvider(pref: ProviderPreference): Promise<ProviderReport> {
  if (!PROVIDER_PREFERENCES.includes(pref)) throw new ProviderUnavailableError(`unknown provider '${String(pref)}': choose ${PROVIDER_PREFERENCES.join(', ')}`);
  if (pref === 'cpu') return { provider: 'cpu' };
  const notes: string[] = [];
  if (pref === 'auto' || pref === 'cuda') {
    const missing = missingCudaLibrary();
    if (!missing) return { provider: 'cuda' };
    if (pref === 'cuda') {
      throw new ProviderUnavailableError(`CUDA execution provider unavailable: ${missing}. Reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12, or choose provider 'webgpu' or 'cpu'.`);
    }
    notes.push(`CUDA: ${missing}`);
  }
  const webgpu = await webgpuUnavailable();
  if (!webgpu) return { provider: 'webgpu', ...(notes.length ? { note: notes.join('; ') } : {}) };
  if (pref === 'webgpu') throw new ProviderUnavailableError(`WebGPU execution provider could not start: ${webgpu}. ${WEBGPU_HINT}`);
  notes.push(`WebGPU: ${webgpu}`);
  return { provider: 'cpu', note: notes.join('; ') };
}

const WEBGPU_HINT =
  "WebGPU needs a GPU with a Vulkan driver (Linux: the vendor's driver and the Vulkan loader libvulkan1; " +
  "VK_ICD_FILENAMES selects a driver), Direct3D 12 (Windows) or Metal (macOS); otherwise choose provider 'cpu'";

let webgpuProbe: Promise<string | undefined> | undefined;

/** Why WebGPU cannot run here (no adapter, no Vulkan loader), or undefined when it can. Probed once. */
export function webgpuUnavailable(): Promise<string | undefined> {
  webgpuProbe ??= (async () => {
    // Without the Vulkan loader the probe can only fail, and Dawn says so on stderr, which the
    // editor shows as a runtime error on every CPU-only machine: answer without probing.
    const noLoader = missingVulkanLoader();
    if (noLoader) return noLoader;
    try {
      const s = await ort.InferenceSession.create(probeModel(), { executionProviders: ['webgpu'], logSeverityLevel: 3 });
      await s.release();
      return undefined;
    } catch (e) {
      return describeWebgpuFailure(e);
    }
  })();
  return webgpuProbe;
}

/**
 * Runs a one-node graph on the CPU once, so that ONNX Runtime's code and thread pool are in
 * memory: what the memory benchmarks take as the baseline a model's memory is measured above.
 */
export async function warmUpRuntime(): Promise<void> {
  const s = await ort.InferenceSession.create(probeModel(), { executionProviders: ['cpu'], logSeverityLevel: 3 });
  await s.run({ x: new ort.Tensor('float32', Float32Array.of(1), [1]) });
  await s.release();
}

function describeWebgpuFailure(e: unknown): string {
  const msg = String(e instanceof Error ? e.message : e);
  if (/No supported adapters|Failed to get a WebGPU adapter/.test(msg)) return 'no GPU adapter found';
  if (/backend.*not|webgpu.*not (supported|available|registered)/i.test(msg)) return 'this onnxruntime-node build has no WebGPU provider';
  return lastLine(msg);
}

/**
 * `y = x + x` over a 1-element float tensor: the smallest graph that makes a provider start; with
 * `f16`, the addition runs in float16 between casts (what fp16 weights need of a GPU).
 */
function probeModel(f16 = false): Uint8Array {
  const value = (name: string): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: Long.fromNumber(1) }] } } },
  });
  const to = (t: number): onnx.IAttributeProto[] => [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: Long.fromNumber(t) }];
  const node: onnx.INodeProto[] = f16
    ? [
        { opType: 'Cast', input: ['x'], output: ['h'], attribute: to(onnx.TensorProto.DataType.FLOAT16) },
        { opType: 'Add', input: ['h', 'h'], output: ['h2'] },
        { opType: 'Cast', input: ['h2'], output: ['y'], attribute: to(onnx.TensorProto.DataType.FLOAT) },
      ]
    : [{ opType: 'Add', input: ['x', 'x'], output: ['y'] }];
  return onnx.ModelProto.encode({
    irVersion: Long.fromNumber(8),
    opsetImport: [{ domain: '', version: Long.fromNumber(17) }],
    graph: { name: 'probe', node, input: [value('x')], output: [value('y')] },
  }).finish();
}

let f16Probe: Promise<string | undefined> | undefined;

/**
 * Why the WebGPU device cannot compute in float16 (fp16 weights), or undefined when it can.
 * Devices without the shader-f16 feature (software Vulkan, some older GPUs) only fail when a
 * float16 kernel first runs, so a tiny float16 graph is run once to find out.
 */
export function webgpuF16Unavailable(): Promise<string | undefined> {
  f16Probe ??= (async () => {
    try {
      const s = await ort.InferenceSession.create(probeModel(true), { executionProviders: ['webgpu'], logSeverityLevel: 4 });
      try {
        await s.run({ x: new ort.Tensor('float32', Float32Array.of(1), [1]) });
      } finally {
        await s.release();
      }
      return undefined;
    } catch (e) {
      const msg = String(e instanceof Error ? e.message : e);
      return /requires f16|does not support/.test(msg) ? 'this GPU has no 16-bit float shaders (WebGPU shader-f16)' : lastLine(msg);
    }
  })();
  return f16Probe;
}

function providerFailure(provider: Provider, e: unknown): Error {
  if (provider === 'cuda') {
    return new ProviderUnavailableError(
      `CUDA execution provider unavailable (${firstLine(e)}). Reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12, or choose provider 'webgpu' or 'cpu'.`,
    );
  }
  if (provider === 'webgpu') {
    return new ProviderUnavailableError(`WebGPU execution provider failed to load this model (${firstLine(e)}). ${WEBGPU_HINT}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * onnxruntime-node ships CUDA support as separate provider libraries that its installer
 * downloads only when asked (ONNXRUNTIME_NODE_INSTALL=cuda12). Returns why CUDA cannot be
 * used, or undefined when the libraries are there (a GPU may still be missing).
 */
/**
 * On Linux, why Dawn cannot find a Vulkan loader (libvulkan.so.1 in no library folder the dynamic
 * linker searches by default or through LD_LIBRARY_PATH), or undefined when one is there.
 * Other platforms use Direct3D 12 or Metal and always probe.
 */
export function missingVulkanLoader(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    '/usr/lib64',
    '/usr/lib',
    '/lib64',
    '/lib',
    '/usr/local/lib',
  ];
  return dirs.some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1'))) ? undefined : 'no Vulkan loader (libvulkan.so.1) installed';
}

export function missingCudaLibrary(): string | undefined {
  if (process.platform !== 'linux' && process.platform !== 'win32') return `no CUDA build of onnxruntime-node for ${process.platform}`;
  let dir: string;
  try {
    dir = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return fs.existsSync(path.join(dir, lib))
    ? undefined
    : 'CUDA provider libraries not installed (reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 to use a GPU)';
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}

function lastLine(msg: string): string {
  const lines = msg.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? msg;
}
