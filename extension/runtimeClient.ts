/**
 * The extension's side of the runtime process: spawns it, speaks the typed protocol of
 * runtime/protocol, tracks its state, restarts it after a crash within a budget, and shuts it
 * down gracefully (shutdown request, exit notification, then a kill after a timeout).
 *
 * Nothing here imports `vscode`: the process comes from an injected Spawner and the UI effects
 * go through callbacks, so the integration tests drive this very class against the real
 * runtime process.
 */
import type { ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import {
  CancellationTokenSource,
  createMessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
  type RequestType,
} from 'vscode-jsonrpc/node';
import { JobProgressType, JOBS, type JobName, type JobParamsIn, type JobProgress, type JobResult, type ModelRef } from '../runtime/protocol/jobs';
import {
  DescribeModelRequest,
  ExitNotification,
  InitializeRequest,
  InspectDatasetRequest,
  ListCachesRequest,
  LogNotification,
  ModelChangedNotification,
  ModelInfoRequest,
  PROTOCOL_VERSION,
  RuntimeStatusRequest,
  ShutdownRequest,
  type DatasetInspection,
  type InitializeResult,
  type InspectDatasetParams,
  type LogLevel,
  type ModelFacts,
  type ModelInfo,
  type RuntimeErrorData,
  type RuntimeErrorKind,
  type RuntimeStatus,
} from '../runtime/protocol/requests';
import type { CacheEntryInfo } from '../runtime/protocol/results';
import { describeCrash, describeExit, isRunning, nextState, RestartBudget, type RuntimeEvent, type RuntimeState } from './runtimeState';

/** The part of a ChildProcess the client uses (so tests can hand in anything that behaves so). */
export interface RuntimeProcess {
  readonly pid?: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  kill(signal?: NodeJS.Signals): boolean;
  /** After the process exited and its stdio closed (so its last stderr lines have been read). */
  once(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

export type Spawner = () => RuntimeProcess | ChildProcess;

/** Structurally both vscode.CancellationToken and vscode-jsonrpc's. */
export interface CancellationTokenLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

export interface RuntimeClientOptions {
  spawn: Spawner;
  /** Sent in `initialize`, e.g. `vscode 1.100.3`. */
  clientName: string;
  /** Runtime logs (at their level), the client's own messages, and the runtime's stderr (as errors). */
  log(level: LogLevel, message: string): void;
  /** Called when the client stops restarting, with a message that says so and why. */
  onGaveUp?(message: string): void;
  /**
   * Called when the process ended unexpectedly, with what happened and what is lost, and the
   * jobs it interrupted (each of those also fails with the same explanation).
   */
  onCrashed?(report: { message: string; interruptedJobs: JobName[] }): void;
  restartBudget?: RestartBudget;
  /** Delay before an automatic restart, so a crash loop does not spin. */
  restartDelayMs?: number;
  initializeTimeoutMs?: number;
  /** How long `stop()` waits for the shutdown reply and then for the process to exit, each. */
  shutdownTimeoutMs?: number;
}

/**
 * A failed request, with the runtime's classification (`kind`), or `crashed` / `stopped` when
 * the process went away under it. `message` is ready to show to a user.
 */
export class RuntimeRequestError extends Error {
  constructor(
    readonly kind: RuntimeErrorKind | 'crashed' | 'stopped',
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'RuntimeRequestError';
  }
}

export interface RunJobOptions {
  token?: CancellationTokenLike;
  onProgress?(p: JobProgress): void;
}

/** A job's progress as the status bar shows it: which job, on which model, and how far. */
export interface ActiveJobProgress extends JobProgress {
  job: JobName;
  /** The model the job names (absolute or as given); the runtime may still be opening it. */
  model?: string;
}

interface Running {
  proc: RuntimeProcess;
  conn: MessageConnection;
  /** Rejects with a `crashed`/`stopped` error when the process exits; every request races it. */
  exited: Promise<never>;
  fail(e: Error): void;
  exitInfo?: string;
}

type Listener = () => void;

export class RuntimeClient {
  private _state: RuntimeState = 'stopped';
  private running?: Running;
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  private restartTimer?: NodeJS.Timeout;
  private gaveUpMessage?: string;
  private inFlight = 0;
  private jobSeq = 0;
  /** Jobs in flight, by work-done token. */
  private readonly activeJobs = new Map<string, JobName>();
  private readonly stateListeners = new Set<Listener>();
  private readonly progressListeners = new Set<(p: ActiveJobProgress | undefined) => void>();
  private readonly stderrTail: string[] = [];
  readonly budget: RestartBudget;
  /** The last `initialize` answer; undefined while not running. */
  info?: InitializeResult;
  /** The model the runtime holds (it says so whenever that changes); forgotten when the process ends. */
  model?: ModelInfo;
  /** The last progress of the running job, for the status bar. */
  progress?: ActiveJobProgress;

  constructor(private readonly opts: RuntimeClientOptions) {
    this.budget = opts.restartBudget ?? new RestartBudget();
  }

  get state(): RuntimeState {
    return this._state;
  }

  /** Set after the restart budget ran out; cleared by restart(). */
  get gaveUp(): string | undefined {
    return this.gaveUpMessage;
  }

  onDidChangeState(listener: Listener): { dispose(): void } {
    this.stateListeners.add(listener);
    return { dispose: () => this.stateListeners.delete(listener) };
  }

  /** Every job's progress, and undefined when a job ends (for the status bar). */
  onDidProgress(listener: (p: ActiveJobProgress | undefined) => void): { dispose(): void } {
    this.progressListeners.add(listener);
    return { dispose: () => this.progressListeners.delete(listener) };
  }

  private emit(event: RuntimeEvent): void {
    const before = this._state;
    this._state = nextState(before, event);
    if (this._state !== before) {
      this.opts.log('debug', `runtime client: ${before} → ${this._state}`);
      for (const l of [...this.stateListeners]) l();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** Starts the runtime if it is not running; resolves when it answered `initialize`. */
  start(): Promise<void> {
    if (this.gaveUpMessage) return Promise.reject(new RuntimeRequestError('crashed', this.gaveUpMessage, 'Run "LayerLab: Restart Runtime".'));
    if (isRunning(this._state)) return Promise.resolve();
    if (this.stopping) return this.stopping.then(() => this.start());
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async launch(): Promise<void> {
    this.emit({ type: 'start' });
    let proc: RuntimeProcess;
    try {
      proc = this.opts.spawn() as RuntimeProcess;
    } catch (e) {
      this.emit({ type: 'exited' });
      this.giveUp(`Could not start the LayerLab runtime: ${(e as Error).message}`);
      throw new RuntimeRequestError('crashed', this.gaveUpMessage!);
    }
    this.stderrTail.length = 0;
    let fail!: (e: Error) => void;
    const exited = new Promise<never>((_, reject) => (fail = reject));
    exited.catch(() => {});
    const conn = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
    const running: Running = { proc, conn, exited, fail };
    this.running = running;

    // Without these, writing to a dead process's stdin (EPIPE) would be an uncaught error in
    // the extension host.
    proc.stdin.on('error', (e) => this.opts.log('debug', `runtime stdin: ${e.message}`));
    proc.stdout.on('error', (e) => this.opts.log('debug', `runtime stdout: ${e.message}`));
    readline.createInterface({ input: proc.stderr }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
      this.opts.log('error', `[runtime stderr] ${line}`);
    });
    conn.onNotification(LogNotification, (p) => this.opts.log(p.level, p.job !== undefined ? `[job ${p.job}] ${p.message}` : p.message));
    conn.onNotification(ModelChangedNotification, (p) => {
      this.model = p.model ?? undefined;
      for (const l of [...this.stateListeners]) l();
    });
    conn.onError(([err]) => this.opts.log('debug', `runtime connection: ${err.message}`));

    proc.once('error', (e) => {
      // The process could not be spawned (e.g. layerlab.nodePath does not exist); 'exit' may
      // never come. Retrying cannot help.
      this.onProcessEnd(running, null, null, e);
    });
    // 'close' rather than 'exit': by then its stderr is fully read, so messages can quote it.
    proc.once('close', (code, signal) => this.onProcessEnd(running, code, signal));
    conn.listen();

    const timeoutMs = this.opts.initializeTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the runtime did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      // Without a pid the spawn failed and 'error' is on its way: writing to the dead pipe
      // would only raise a second, unhandled error inside vscode-jsonrpc.
      if (proc.pid === undefined) await Promise.race([exited, timeout]);
      const init = conn.sendRequest(InitializeRequest, { protocolVersion: PROTOCOL_VERSION, client: this.opts.clientName });
      init.catch(() => {});
      const info = await Promise.race([init, exited, timeout]);
      if (info.protocolVersion !== PROTOCOL_VERSION) {
        const msg =
          `The LayerLab runtime speaks protocol ${info.protocolVersion} but the extension speaks ${PROTOCOL_VERSION}: ` +
          `dist/runtime.js is from another build. Rebuild (npm run build) or reinstall the extension.`;
        this.giveUp(msg);
        proc.kill('SIGKILL');
        throw new RuntimeRequestError('crashed', msg);
      }
      this.info = info;
      this.opts.log('info', `runtime ready: pid ${info.pid}, Node ${info.nodeVersion}`);
      this.emit({ type: 'initialized' });
    } catch (e) {
      if (e instanceof RuntimeRequestError) throw e;
      // A hung or failed start counts as a crash: kill it; the exit handler restarts within budget.
      if (this.running === running && !running.exitInfo) {
        this.opts.log('error', `runtime start failed: ${(e as Error).message}`);
        proc.kill('SIGKILL');
      }
      throw new RuntimeRequestError('crashed', `The LayerLab runtime failed to start: ${(e as Error).message}${this.stderrHint()}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private onProcessEnd(running: Running, code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void {
    if (running.exitInfo) return;
    running.exitInfo = spawnError ? `could not be started (${spawnError.message})` : describeExit(code, signal);
    const wasStopping = this.stopping !== undefined;
    const spawnMessage = spawnError
      ? `Could not start the LayerLab runtime: ${spawnError.message}. ` +
        `Check the "layerlab.nodePath" setting (leave it empty to use VS Code's own Node).`
      : undefined;
    const lostModel = this.model?.path;
    const interruptedJobs = [...this.activeJobs.values()];
    // Decided before the requests in flight are failed, so their messages can say what happens next.
    const restart = wasStopping || spawnMessage || this.gaveUpMessage ? undefined : this.budget.tryConsume();
    const crash =
      restart === undefined
        ? undefined
        : describeCrash({ exit: running.exitInfo, restart: restart ? { used: this.budget.used, budget: this.budget.describe() } : 'gave-up', ...(lostModel ? { lostModel } : {}) });
    const err = wasStopping
      ? new RuntimeRequestError('stopped', 'the LayerLab runtime was stopped')
      : spawnMessage
        ? new RuntimeRequestError('crashed', spawnMessage)
        : new RuntimeRequestError('crashed', crash ?? `the LayerLab runtime stopped unexpectedly (${running.exitInfo})`, 'See the LayerLab output (LayerLab: Show Runtime Log) for its last messages.');
    // Reject every request in flight on this process with that explanation.
    running.fail(err);
    running.conn.dispose();
    if (this.running === running) this.running = undefined;
    this.info = undefined;
    this.model = undefined;
    this.progress = undefined;
    this.activeJobs.clear();
    for (const l of [...this.progressListeners]) l(undefined);

    if (wasStopping) {
      this.emit({ type: 'stopped' });
      return;
    }
    this.emit({ type: 'exited' });
    this.opts.log('error', `runtime ${running.exitInfo}`);
    // Already given up (e.g. a protocol mismatch killed it): no restart.
    if (this.gaveUpMessage) return;
    if (spawnMessage) {
      this.giveUp(spawnMessage);
      return;
    }
    if (restart) {
      this.opts.onCrashed?.({ message: crash!, interruptedJobs });
      const delay = this.opts.restartDelayMs ?? 500;
      this.opts.log('warn', `restarting the runtime in ${delay} ms (restart ${this.budget.used} of ${this.budget.describe()})`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.start().catch((e) => this.opts.log('error', `runtime restart failed: ${(e as Error).message}`));
      }, delay);
    } else {
      this.giveUp(
        `The LayerLab runtime stopped unexpectedly again (${running.exitInfo}) after ${this.budget.describe()}, ` +
          `so it will not be restarted automatically.${this.stderrHint()}${lostModel ? ` The model it held (${lostModel}) was unloaded.` : ''} ` +
          `Fix the cause (see "LayerLab: Show Runtime Log"), then use "Restart Runtime".`,
      );
    }
  }

  private giveUp(message: string): void {
    this.gaveUpMessage = message;
    this.opts.log('error', message);
    for (const l of [...this.stateListeners]) l();
    this.opts.onGaveUp?.(message);
  }

  private stderrHint(): string {
    const last = this.stderrTail.filter((l) => l.trim()).slice(-3);
    return last.length ? ` Its last error output: ${last.join(' | ')}.` : '';
  }

  /** Graceful stop: `shutdown` (cancels work, releases the model), `exit`, then kill after a timeout. */
  stop(): Promise<void> {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    if (this.stopping) return this.stopping;
    const running = this.running;
    if (!running) {
      if (this._state !== 'stopped') this.emit({ type: 'stopped' });
      return Promise.resolve();
    }
    this.stopping = this.shutdown(running).finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private async shutdown(running: Running): Promise<void> {
    const timeoutMs = this.opts.shutdownTimeoutMs ?? 3000;
    const ended = new Promise<void>((resolve) => {
      if (running.exitInfo) resolve();
      else running.proc.once('close', () => resolve());
    });
    try {
      await withTimeout(running.conn.sendRequest(ShutdownRequest), timeoutMs, 'shutdown');
      await running.conn.sendNotification(ExitNotification);
    } catch (e) {
      this.opts.log('warn', `runtime did not shut down cleanly (${(e as Error).message}); killing it`);
      running.proc.kill('SIGKILL');
    }
    if (!(await withTimeout(ended, timeoutMs, 'exit').then(() => true, () => false))) {
      this.opts.log('warn', `runtime did not exit within ${timeoutMs / 1000} s of 'exit'; killing it`);
      running.proc.kill('SIGKILL');
      await ended;
    }
  }

  /** User-initiated restart: also clears a spent restart budget. */
  async restart(): Promise<void> {
    await this.stop();
    this.budget.reset();
    this.gaveUpMessage = undefined;
    await this.start();
  }

  /** Stops the runtime and drops listeners (deactivate). */
  async dispose(): Promise<void> {
    await this.stop();
    this.stateListeners.clear();
    this.progressListeners.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  private async send<P, R>(
    type: RequestType<P, R, RuntimeErrorData>,
    params: P,
    opts: { long: boolean; token?: CancellationTokenLike },
  ): Promise<R> {
    await this.start();
    const running = this.running;
    if (!running || running.exitInfo) throw new RuntimeRequestError('stopped', 'the LayerLab runtime is not running');
    const source = new CancellationTokenSource();
    const sub = opts.token?.onCancellationRequested(() => source.cancel());
    if (opts.token?.isCancellationRequested) source.cancel();
    if (opts.long) {
      this.inFlight++;
      this.emit({ type: 'work-started' });
    }
    try {
      const reply = running.conn.sendRequest(type, params, source.token);
      reply.catch(() => {});
      return await Promise.race([reply, running.exited]);
    } catch (e) {
      throw explain(e);
    } finally {
      sub?.dispose();
      source.dispose();
      if (opts.long) {
        this.inFlight--;
        this.emit({ type: 'work-finished', remaining: this.inFlight });
      }
    }
  }

  /** The model the runtime holds, asked afresh. */
  async modelInfo(): Promise<ModelInfo | null> {
    const info = await this.send(ModelInfoRequest, {}, { long: false });
    this.model = info ?? undefined;
    return info;
  }

  /** A model's blocks, hook points and sizes from its config and tokenizer: no weights are read. */
  describeModel(ref: ModelRef, token?: CancellationTokenLike): Promise<ModelFacts> {
    return this.send(DescribeModelRequest, ref, { long: false, token });
  }

  runtimeStatus(): Promise<RuntimeStatus> {
    return this.send(RuntimeStatusRequest, {}, { long: false });
  }

  /** Loads a dataset in the runtime and describes it (counts, labels, the first records). */
  inspectDataset(params: InspectDatasetParams, token?: CancellationTokenLike): Promise<DatasetInspection> {
    return this.send(InspectDatasetRequest, params, { long: false, token });
  }

  listCaches(folder: string, token?: CancellationTokenLike): Promise<CacheEntryInfo[]> {
    return this.send(ListCachesRequest, { folder }, { long: false, token });
  }

  /**
   * Runs a job with typed params and returns its typed result. Progress arrives as work-done
   * progress on a token named here; cancelling `token` sends `$/cancelRequest` and the job
   * rejects with kind `cancelled`.
   */
  async runJob<N extends JobName>(name: N, params: JobParamsIn<N>, opts: RunJobOptions = {}): Promise<JobResult<N>> {
    await this.start();
    const running = this.running;
    if (!running || running.exitInfo) throw new RuntimeRequestError('stopped', 'the LayerLab runtime is not running');
    const workDoneToken = `${name}-${Date.now().toString(36)}-${++this.jobSeq}`;
    const model = jobModelOf(params as Record<string, unknown>);
    const report = (p: JobProgress) => {
      this.progress = { ...p, job: name, ...(model ? { model } : {}) };
      for (const l of [...this.progressListeners]) l(this.progress);
    };
    const sub = running.conn.onProgress(JobProgressType, workDoneToken, (p) => {
      opts.onProgress?.(p);
      report(p);
    });
    this.activeJobs.set(workDoneToken, name);
    // Said at once (before the first report): the status bar names the job's model while it opens.
    report({ done: 0, total: 0 });
    try {
      const request = JOBS[name].request as unknown as RequestType<unknown, JobResult<N>, RuntimeErrorData>;
      return await this.send(request, { ...params, workDoneToken }, { long: true, token: opts.token });
    } finally {
      this.activeJobs.delete(workDoneToken);
      sub.dispose();
      if (this.progress?.job === name) {
        this.progress = undefined;
        for (const l of [...this.progressListeners]) l(undefined);
      }
    }
  }
}

/** The model a job's params name: `--model`, or the seed's `--models_path DIR --model_name NAME`. */
function jobModelOf(p: Record<string, unknown>): string | undefined {
  if (typeof p.model === 'string') return p.model;
  if (typeof p.modelName === 'string') return typeof p.modelsPath === 'string' ? `${p.modelsPath.replace(/[\\/]+$/, '')}/${p.modelName}` : p.modelName;
  return undefined;
}

function explain(e: unknown): RuntimeRequestError {
  if (e instanceof RuntimeRequestError) return e;
  if (e instanceof ResponseError) {
    const data = e.data as RuntimeErrorData | undefined;
    if (data && typeof data.kind === 'string') return new RuntimeRequestError(data.kind, e.message, data.hint);
    return new RuntimeRequestError('internal', e.message);
  }
  return new RuntimeRequestError('internal', (e as Error)?.message ?? String(e));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
