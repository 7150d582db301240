/**
 * The runtime's JSON-RPC handlers, over any vscode-jsonrpc connection (stdio in main.ts, an
 * in-memory pair in tests). It holds at most one loaded model and runs one long request at a
 * time (model load, generation, job): ONNX Runtime already uses every core for one run, so a
 * second would only slow both, and one-at-a-time keeps "which model is loaded" unambiguous.
 * Short requests (model info, cache listing, dataset inspection) answer while a job runs.
 */
import * as path from 'node:path';
import type { CancellationToken, MessageConnection } from 'vscode-jsonrpc';
import { countLabels, loadDataset, type Dataset, type QARecord } from '../../datasets';
import { allHookNames } from '../../models/graph/spec';
import { intArg } from '../cli/args';
import { modelOptionsFrom, modelPathFrom } from '../cli/modelArgs';
import { generateGreedy } from '../generate';
import { openModel, type OpenedModel } from '../openModel';
import { LAYERLAB_VERSION } from '../version';
import {
  ExitNotification,
  GenerateRequest,
  InitializeRequest,
  InspectDatasetRequest,
  isJobName,
  ListCachesRequest,
  LoadModelRequest,
  LogNotification,
  ModelInfoRequest,
  PROTOCOL_VERSION,
  ProgressNotification,
  RunJobRequest,
  ShutdownRequest,
  type DatasetInspection,
  type DatasetRecordPreview,
  type InitializeResult,
  type JobName,
  type LogLevel,
  type ModelInfo,
  type ProgressParams,
  type ProviderPreference,
  type RunJobResult,
} from '../protocol/requests';
import { responseError, RuntimeError, toResponseError } from './errors';
import type { JobContext, JobDefinition, JobOutcome, ModelLease } from './job';
import { CACHE_LISTER, JOBS, type CacheLister } from './registry';

export interface RuntimeServerOptions {
  /** Defaults to registry.ts's table; tests pass their own jobs. */
  jobs?: Partial<Record<JobName, JobDefinition>>;
  cacheLister?: CacheLister | null;
  /** Called on `exit` and when the connection closes, with the exit code to use. */
  exit(code: number): void;
  /** Minimum milliseconds between two progress notifications of one job (the last always goes). */
  progressIntervalMs?: number;
}

interface LoadedModel {
  key: string;
  opened: OpenedModel;
  info: ModelInfo;
}

interface ActiveWork {
  what: string;
  controller: AbortController;
  settled: Promise<unknown>;
}

/** How long shutdown waits for cancelled work to stop before releasing the model anyway. */
const SHUTDOWN_WAIT_MS = 5000;

export class RuntimeServer {
  private loaded?: LoadedModel;
  private active?: ActiveWork;
  private shutdownRequested = false;
  private closed = false;
  private readonly jobs: Partial<Record<JobName, JobDefinition>>;
  private readonly cacheLister: CacheLister | null;

  constructor(
    private readonly connection: MessageConnection,
    private readonly opts: RuntimeServerOptions,
  ) {
    this.jobs = opts.jobs ?? JOBS;
    this.cacheLister = opts.cacheLister === undefined ? CACHE_LISTER : opts.cacheLister;
    this.register();
  }

  /** Sends a log line to the client; silently dropped once the connection is gone. */
  log(level: LogLevel, message: string, jobId?: string): void {
    if (this.closed) return;
    this.connection.sendNotification(LogNotification, jobId ? { level, message, jobId } : { level, message }).catch(() => {});
  }

  private register(): void {
    const c = this.connection;
    c.onRequest(InitializeRequest, (params): InitializeResult => {
      if (params.protocolVersion !== PROTOCOL_VERSION) {
        this.log('warn', `client speaks protocol ${params.protocolVersion}, this runtime ${PROTOCOL_VERSION}`);
      }
      this.log('info', `LayerLab runtime ${LAYERLAB_VERSION} (pid ${process.pid}, Node ${process.version}) for ${params.client}`);
      return {
        protocolVersion: PROTOCOL_VERSION,
        runtimeVersion: LAYERLAB_VERSION,
        pid: process.pid,
        nodeVersion: process.version,
        platform: process.platform,
        arch: process.arch,
        jobs: Object.keys(this.jobs).filter(isJobName),
      };
    });

    c.onRequest(LoadModelRequest, (params, token) =>
      this.exclusive(`loading ${params.path}`, token, async (signal) => {
        const provider = checkProvider(params.provider);
        const modelPath = path.resolve(params.path);
        const opened = await openModel(modelPath, {
          tokenizer: params.tokenizer,
          provider,
          threads: params.threads ?? 0,
          log: (m) => this.log('info', m),
        });
        if (signal.aborted) {
          await opened.model.release();
          signal.throwIfAborted();
        }
        const previous = this.loaded;
        this.loaded = { key: modelKey(modelPath, params.tokenizer, provider, params.threads ?? 0), opened, info: modelInfo(opened) };
        if (previous) await previous.opened.model.release();
        return this.loaded.info;
      }),
    );

    c.onRequest(ModelInfoRequest, () => this.loaded?.info ?? null);

    c.onRequest(GenerateRequest, (params, token) =>
      this.exclusive('generating', token, async (signal) => {
        const loaded = this.requireModel();
        const t0 = performance.now();
        const tok = loaded.opened.tokenizer;
        const ids = tok.encode(params.prompt, { addBos: params.addBos ?? true });
        const [gen] = await generateGreedy(loaded.opened.model, tok, [ids], {
          maxNewTokens: params.maxNewTokens,
          stopStrings: params.stop ?? tok.stopStrings,
          signal,
        });
        return {
          text: gen.text,
          stopReason: gen.stopReason,
          promptTokens: ids.length,
          newTokens: gen.ids.length,
          seconds: (performance.now() - t0) / 1000,
        };
      }),
    );

    c.onRequest(ListCachesRequest, async (params, token) => {
      if (!this.cacheLister) {
        throw responseError('unavailable', 'this build of the LayerLab runtime cannot read hidden-state caches yet');
      }
      const signal = abortSignalOf(token);
      try {
        return await this.cacheLister(path.resolve(params.folder), signal.signal);
      } catch (e) {
        throw toResponseError(e, signal.signal);
      } finally {
        signal.dispose();
      }
    });

    c.onRequest(InspectDatasetRequest, async (params) => {
      try {
        const ds = await loadDataset(path.resolve(params.file), params.split !== undefined ? { split: params.split } : {});
        return inspectDataset(ds, params.limit ?? DEFAULT_PREVIEW, params.recordId);
      } catch (e) {
        throw toResponseError(e);
      }
    });

    c.onRequest(RunJobRequest, (params, token) => {
      const def = isJobName(params.job) ? this.jobs[params.job] : undefined;
      if (!def) {
        const have = Object.keys(this.jobs).join(', ');
        throw responseError('unknown-job', `this build of the LayerLab runtime has no '${params.job}' job`, `It has: ${have}.`);
      }
      return this.exclusive(`job ${params.job}`, token, (signal) => this.runJob(params.jobId, params.job, def, params.args, signal));
    });

    c.onRequest(ShutdownRequest, async () => {
      this.shutdownRequested = true;
      this.log('info', 'shutting down');
      if (this.active) {
        this.active.controller.abort();
        await Promise.race([this.active.settled, delay(SHUTDOWN_WAIT_MS)]);
      }
      await this.releaseModel();
      return null;
    });

    c.onNotification(ExitNotification, () => this.opts.exit(this.shutdownRequested ? 0 : 1));

    c.onClose(() => {
      // The client went away without `exit` (its process died or closed our stdin).
      this.closed = true;
      this.active?.controller.abort();
      void this.releaseModel().finally(() => this.opts.exit(this.shutdownRequested ? 0 : 1));
    });
  }

  private async runJob(jobId: string, job: JobName, def: JobDefinition, args: string[], signal: AbortSignal): Promise<RunJobResult> {
    const t0 = performance.now();
    const out: string[] = [];
    const log = (level: LogLevel, message: string) => this.log(level, message, jobId);
    const interval = this.opts.progressIntervalMs ?? 100;
    let lastSent = -Infinity;
    let lastDone = 0;
    let finalSentFor: number | undefined;
    let finished = false;
    /** A report held back by the throttle; sent when the interval is over unless a newer one went first. */
    let trailing: { timer: ReturnType<typeof setTimeout>; params: ProgressParams } | undefined;
    const send = (params: ProgressParams) => {
      if (trailing) clearTimeout(trailing.timer);
      trailing = undefined;
      lastSent = performance.now();
      if (this.closed || finished) return;
      this.connection.sendNotification(ProgressNotification, params).catch(() => {});
    };
    const ctx: JobContext = {
      jobId,
      args,
      signal,
      progress: (done, total, message) => {
        // Clamped so the client's bar never goes backwards, and throttled because a job may
        // report per item; the first report and the final one (once) always go out, and a
        // report held back is sent at the end of the interval if nothing newer went out (a job
        // reporting a few coarse steps must not lose the step it is on).
        if (finished) return;
        lastDone = Math.max(lastDone, done);
        const params: ProgressParams = { jobId, done: lastDone, total, ...(message ? { message } : {}) };
        const final = lastDone >= total;
        if (final) {
          if (finalSentFor === total) return;
          finalSentFor = total;
          send(params);
          return;
        }
        const wait = interval - (performance.now() - lastSent);
        if (wait <= 0) {
          send(params);
          return;
        }
        if (trailing) trailing.params = params;
        else {
          const t = { params, timer: setTimeout(() => send(t.params), wait) };
          trailing = t;
        }
      },
      log,
      openModel: (values) => this.leaseModel(values, log),
      io: { out: (t) => out.push(t), log: (t) => log('info', t) },
    };
    log('info', `${job} ${args.map(quoteArg).join(' ')}`);
    let outcome: JobOutcome;
    try {
      outcome = (await def.run(ctx)) ?? {};
    } finally {
      // No progress after the response (a held-back report would arrive after it).
      finished = true;
      if (trailing) clearTimeout(trailing.timer);
      trailing = undefined;
    }
    if (outcome.output) out.push(outcome.output);
    const seconds = (performance.now() - t0) / 1000;
    log('info', `${job} finished in ${seconds.toFixed(2)} s`);
    return { jobId, job, output: out.join('\n'), files: (outcome.files ?? []).map((f) => path.resolve(f)), seconds };
  }

  /** The loaded model when `values` name the same one, else a model opened for this job only. */
  private async leaseModel(values: Record<string, unknown>, log: (level: LogLevel, m: string) => void): Promise<ModelLease> {
    const provider = checkProvider((values.provider as string | undefined) ?? 'auto');
    const threads = intArg(values, 'threads', 0);
    const modelPath = modelPathFrom(values);
    const modelOptions = modelOptionsFrom(values);
    const key = modelKey(modelPath, values.tokenizer as string | undefined, provider, threads, modelOptions);
    if (this.loaded?.key === key) {
      const opened = this.loaded.opened;
      return { opened, shared: true, release: async () => {} };
    }
    const opened = await openModel(modelPath, { tokenizer: values.tokenizer as string | undefined, provider, threads, modelOptions, log: (m) => log('info', m) });
    return { opened, shared: false, release: () => opened.model.release() };
  }

  private requireModel(): LoadedModel {
    if (!this.loaded) throw new RuntimeError('no-model', 'no model is loaded', 'Select one with "LayerLab: Select Model".');
    return this.loaded;
  }

  private async releaseModel(): Promise<void> {
    const loaded = this.loaded;
    this.loaded = undefined;
    if (loaded) await loaded.opened.model.release();
  }

  /**
   * Runs long work alone, with the request's cancellation token turned into an AbortSignal
   * (and aborted on shutdown too), and every failure turned into a classified ResponseError.
   */
  private async exclusive<T>(what: string, token: CancellationToken, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.shutdownRequested) throw responseError('busy', 'the runtime is shutting down');
    if (this.active) {
      throw responseError('busy', `the runtime is busy (${this.active.what})`, 'Wait for it to finish or cancel it, then try again.');
    }
    const link = abortSignalOf(token);
    const run = work(link.signal);
    this.active = { what, controller: link.controller, settled: run.catch(() => {}) };
    try {
      return await run;
    } catch (e) {
      const err = toResponseError(e, link.signal);
      if (err.data?.kind === 'internal') this.log('error', `${what} failed: ${(e as Error)?.stack ?? e}`);
      else this.log(err.data?.kind === 'cancelled' ? 'info' : 'warn', `${what}: ${err.message}`);
      throw err;
    } finally {
      this.active = undefined;
      link.dispose();
    }
  }
}

/** Records the Datasets view lists before its "… N more" node. */
const DEFAULT_PREVIEW = 200;
/** Characters of a question the Datasets view shows. */
const QUESTION_CHARS = 200;

/** What `layerlab/inspectDataset` answers for a loaded dataset. */
export function inspectDataset(ds: Dataset, limit: number, recordId?: string): DatasetInspection {
  const c = countLabels(ds.records);
  const preview =
    recordId !== undefined
      ? ds.records.filter((r) => r.id === recordId).slice(0, 1).map((r) => recordPreview(r, true))
      : ds.records.slice(0, Math.max(0, Math.floor(limit))).map((r) => recordPreview(r, false));
  return {
    file: ds.file,
    kind: ds.kind,
    name: ds.name,
    ...(ds.split !== undefined ? { split: ds.split } : {}),
    records: ds.records.length,
    labels: { reasoning: c.reasoning, memorization: c.memorization, unlabeled: c.unlabeled },
    warnings: ds.warnings ?? [],
    preview,
  };
}

function recordPreview(r: QARecord, full: boolean): DatasetRecordPreview {
  const q = r.question.replace(/\s+/g, ' ').trim();
  const out: DatasetRecordPreview = {
    id: r.id,
    index: r.index,
    question: full ? r.question : q.length > QUESTION_CHARS ? `${q.slice(0, QUESTION_CHARS - 1)}…` : q,
  };
  if (r.label) out.label = r.label;
  if (r.category !== undefined) out.category = r.category;
  if (r.answer !== undefined) out.answer = r.answer;
  else if (r.aliases?.length) out.answer = r.aliases[0];
  if (full) {
    if (r.options.length) out.options = r.options;
    if (r.aliases?.length) out.aliases = r.aliases;
    if (r.score !== undefined) out.score = r.score;
  }
  return out;
}

function checkProvider(p: string): ProviderPreference {
  if (p === 'auto' || p === 'cuda' || p === 'cpu') return p;
  throw new RuntimeError('usage', `provider must be auto, cuda or cpu, got '${p}'`);
}

/** Architecture options (huginn's num_steps) change what the blocks are, so they are part of it. */
function modelKey(modelPath: string, tokenizer: string | undefined, provider: ProviderPreference, threads: number, options: object = {}): string {
  return JSON.stringify([path.resolve(modelPath), tokenizer ? path.resolve(tokenizer) : null, provider, threads, options]);
}

export function modelInfo(opened: OpenedModel): ModelInfo {
  const { spec, provider } = opened.model;
  return {
    path: opened.checkpoint.path,
    format: opened.checkpoint.format,
    architecture: spec.family,
    modelType: spec.modelType,
    contentHash: spec.contentHash,
    dModel: spec.dModel,
    vocabSize: spec.vocabSize,
    maxSeqLen: spec.maxSeqLen,
    nBlocks: spec.nBlocks,
    blocks: spec.blocks.map((b) => ({ index: b.index, part: b.part, label: b.label })),
    hookPoints: allHookNames(spec.nBlocks).length,
    options: spec.options,
    weightsBytes: spec.weightsBytes,
    tokenizer: opened.tokenizer.source,
    provider: provider.provider,
    ...(provider.note ? { providerNote: provider.note } : {}),
    graphDir: opened.graphDir,
  };
}

/** An AbortController that follows a JSON-RPC cancellation token. */
function abortSignalOf(token: CancellationToken): { controller: AbortController; signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  const sub = token.onCancellationRequested(() => controller.abort());
  return { controller, signal: controller.signal, dispose: () => sub.dispose() };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}
