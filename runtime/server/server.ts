/**
 * The runtime's JSON-RPC handlers, over any vscode-jsonrpc connection (stdio in main.ts, an
 * in-memory pair in tests). One request per job (runtime/protocol/jobs.ts), each validated
 * against the job's schema and handed to the job's handler (runtime/jobs/) with a context whose
 * progress goes out as work-done progress on the request's token and whose model comes from the
 * server's lease. Jobs run one at a time: ONNX Runtime already uses every core for one run, so
 * a second would only slow both, and one-at-a-time keeps "which model is loaded" unambiguous.
 * Short queries (model facts and info, caches, datasets, status) answer while a job runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CancellationToken, MessageConnection, RequestType } from 'vscode-jsonrpc';
import type { z } from 'zod';
import { countLabels, loadDataset, type Dataset, type QARecord } from '../../datasets';
import { inspectCaches } from '../cache/inspect';
import { HANDLERS, type JobContext, type JobHandlers } from '../jobs';
import { describeModel, ModelLease } from '../jobs/models';
import { progressReporter } from '../jobs/progress';
import { sessionsCreated } from '../ort/session';
import { cliLine, describeIssues } from '../protocol/argv';
import { JOB_NAMES, JobProgressType, JOBS, modelRefSchema, type JobName, type WorkDoneParams } from '../protocol/jobs';
import {
  DescribeModelRequest,
  ExitNotification,
  InitializeRequest,
  initializeParamsSchema,
  InspectDatasetRequest,
  inspectDatasetParamsSchema,
  ListCachesRequest,
  listCachesParamsSchema,
  LogNotification,
  ModelChangedNotification,
  ModelInfoRequest,
  noParamsSchema,
  PROTOCOL_VERSION,
  RuntimeStatusRequest,
  ShutdownRequest,
  type DatasetInspection,
  type DatasetRecordPreview,
  type InitializeResult,
  type LogLevel,
  type RuntimeErrorData,
} from '../protocol/requests';
import { LAYERLAB_VERSION } from '../version';
import { responseError, toResponseError } from './errors';

export interface RuntimeServerOptions {
  /** Replaces handlers (tests add jobs that misbehave on purpose). */
  handlers?: Partial<JobHandlers>;
  /** Called on `exit` and when the connection closes, with the exit code to use. */
  exit(code: number): void;
  /** Minimum milliseconds between two progress reports of one job (the last always goes). */
  progressIntervalMs?: number;
}

interface ActiveWork {
  what: string;
  controller: AbortController;
  settled: Promise<unknown>;
}

/** How long shutdown waits for cancelled work to stop before releasing the model anyway. */
const SHUTDOWN_WAIT_MS = 5000;

export class RuntimeServer {
  private readonly lease: ModelLease;
  private active?: ActiveWork;
  private shutdownRequested = false;
  private closed = false;
  private readonly handlers: JobHandlers;

  constructor(
    private readonly connection: MessageConnection,
    private readonly opts: RuntimeServerOptions,
  ) {
    this.handlers = { ...HANDLERS, ...opts.handlers } as JobHandlers;
    this.lease = new ModelLease({
      log: (m) => this.log('info', m),
      onChange: (model) => {
        if (!this.closed) this.connection.sendNotification(ModelChangedNotification, { model }).catch(() => {});
      },
    });
    this.register();
  }

  /** Sends a log line to the client; silently dropped once the connection is gone. */
  log(level: LogLevel, message: string, job?: string | number): void {
    if (this.closed) return;
    this.connection.sendNotification(LogNotification, job !== undefined ? { level, message, job } : { level, message }).catch(() => {});
  }

  private register(): void {
    const c = this.connection;
    c.onRequest(InitializeRequest, (raw): InitializeResult => {
      const params = validate(initializeParamsSchema, raw);
      if (params.protocolVersion !== PROTOCOL_VERSION) {
        this.log('warn', `client speaks protocol ${params.protocolVersion}, this runtime ${PROTOCOL_VERSION}`);
      }
      this.log('info', `LayerLab runtime ${LAYERLAB_VERSION} (pid ${process.pid}, Node ${process.version}) for ${params.client}`);
      return { protocolVersion: PROTOCOL_VERSION, runtimeVersion: LAYERLAB_VERSION, pid: process.pid, nodeVersion: process.version, platform: process.platform, arch: process.arch };
    });

    for (const name of JOB_NAMES) {
      const request = JOBS[name].request as unknown as RequestType<unknown, unknown, RuntimeErrorData>;
      c.onRequest(request, (raw, token) => this.exclusive(`job ${name}`, token, (signal) => this.runJob(name, raw, signal)));
    }

    c.onRequest(ModelInfoRequest, (raw) => {
      validate(noParamsSchema, raw ?? {});
      return this.lease.info ?? null;
    });

    c.onRequest(DescribeModelRequest, (raw) => guard(() => describeModel(validate(modelRefSchema, raw))));

    c.onRequest(RuntimeStatusRequest, (raw) => {
      validate(noParamsSchema, raw ?? {});
      return { model: this.lease.info ?? null, active: this.active?.what ?? null, sessionsCreated: sessionsCreated(), rssBytes: process.memoryUsage.rss() };
    });

    c.onRequest(ListCachesRequest, (raw) =>
      guard(() => {
        const folder = path.resolve(validate(listCachesParamsSchema, raw).folder);
        // A folder that does not exist yet holds no caches (the view shows its welcome text).
        return fs.existsSync(folder) ? inspectCaches(folder) : [];
      }),
    );

    c.onRequest(InspectDatasetRequest, (raw) =>
      guard(async () => {
        const params = validate(inspectDatasetParamsSchema, raw);
        const ds = await loadDataset(path.resolve(params.file), params.split !== undefined ? { split: params.split } : {});
        return inspectDataset(ds, params.limit ?? DEFAULT_PREVIEW, params.recordId);
      }),
    );

    c.onRequest(ShutdownRequest, async () => {
      this.shutdownRequested = true;
      this.log('info', 'shutting down');
      if (this.active) {
        this.active.controller.abort();
        await Promise.race([this.active.settled, delay(SHUTDOWN_WAIT_MS)]);
      }
      await this.lease.release();
      return null;
    });

    c.onNotification(ExitNotification, () => this.opts.exit(this.shutdownRequested ? 0 : 1));

    c.onClose(() => {
      // The client went away without `exit` (its process died or closed our stdin).
      this.closed = true;
      this.active?.controller.abort();
      void this.lease.release().finally(() => this.opts.exit(this.shutdownRequested ? 0 : 1));
    });
  }

  private async runJob<N extends JobName>(name: N, raw: unknown, signal: AbortSignal): Promise<unknown> {
    const t0 = performance.now();
    const job = JOBS[name];
    const { workDoneToken: token, ...rest } = (raw && typeof raw === 'object' ? raw : {}) as WorkDoneParams & Record<string, unknown>;
    const parsed = job.params.safeParse(rest);
    if (!parsed.success) throw describeIssues(job, parsed.error);
    const params = parsed.data as Record<string, unknown>;
    const log = (level: LogLevel, message: string) => this.log(level, message, token);
    const reporter = progressReporter((p) => {
      if (token !== undefined && !this.closed) this.connection.sendProgress(JobProgressType, token, p).catch(() => {});
    }, this.opts.progressIntervalMs ?? 100);
    const ctx: JobContext = {
      signal,
      progress: (done, total, message) => reporter.report(done, total, message),
      log,
      // A first open converts the checkpoint (minutes for a big one): its steps show as the
      // message of the job's progress, which stays at 0 so the job's own bar never runs backwards.
      openModel: (ref) => this.lease.open(ref, (m) => log('info', m), (done, total, message) => reporter.report(0, 1, `${message} (${done}/${total})`)),
      releaseModel: () => this.lease.release(),
    };
    log('info', cliLine(job, params));
    try {
      const handler = this.handlers[name] as (p: unknown, c: JobContext) => Promise<unknown>;
      const result = await handler(params, ctx);
      log('info', `${name} finished in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      return result;
    } finally {
      // No progress after the response (a held-back report would arrive after it).
      reporter.close();
    }
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

/** Params checked against their schema: a mismatch is a usage error naming the field. */
function validate<S extends z.ZodTypeAny>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw responseError('usage', `invalid params: ${i.path.join('.') || '(params)'}: ${i.message}`);
  }
  return r.data;
}

/** A short request's failure, classified like a job's. */
async function guard<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw toResponseError(e);
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

