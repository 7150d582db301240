/**
 * The one module that imports onnxruntime-node. Everything else talks to ONNX Runtime through
 * this wrapper, so the provider choice, threading and tensor conversion live in one place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';

import type { Provider, ProviderPreference } from '../protocol/requests';

export type { Provider, ProviderPreference };

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

/** Why CUDA was not used, kept so that `info` can say it. */
export interface ProviderReport {
  provider: Provider;
  note?: string;
}

export class OrtSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: ProviderReport,
  ) {}

  /**
   * Opens a model file. With `auto`, CUDA is tried first and CPU used when the CUDA provider
   * libraries are missing (onnxruntime-node downloads them only with
   * ONNXRUNTIME_NODE_INSTALL=cuda12); the report says which provider runs and why.
   */
  static async create(modelPath: string, opts: SessionOptions = {}): Promise<OrtSession> {
    created++;
    const pref = opts.provider ?? 'auto';
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    };
    const cudaMissing = pref === 'auto' ? missingCudaLibrary() : undefined;
    if (cudaMissing) {
      // Asking ONNX Runtime for CUDA without its libraries only prints a loud native error.
      const s = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cpu'] });
      return new OrtSession(s, { provider: 'cpu', note: cudaMissing });
    }
    if (pref !== 'cpu') {
      try {
        const s = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cuda'] });
        return new OrtSession(s, { provider: 'cuda' });
      } catch (e) {
        if (pref === 'cuda') {
          throw new Error(
            `CUDA execution provider unavailable (${firstLine(e)}). Reinstall onnxruntime-node with ` +
              `ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12, or choose provider 'cpu'.`,
          );
        }
        const s = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cpu'] });
        return new OrtSession(s, { provider: 'cpu', note: `CUDA not available: ${firstLine(e)}` });
      }
    }
    const s = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cpu'] });
    return new OrtSession(s, { provider: 'cpu' });
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
 * onnxruntime-node ships CUDA support as separate provider libraries that its installer
 * downloads only when asked (ONNXRUNTIME_NODE_INSTALL=cuda12). Returns why CUDA cannot be
 * used, or undefined when the libraries are there (a GPU may still be missing).
 */
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
