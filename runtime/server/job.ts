/**
 * What a long job gets from the runtime server and what it returns. A job is the twin of a CLI
 * command: it receives the same argv, parses it with the same option spec, and does the same
 * work, but reports progress and honours cancellation through this context instead of stderr
 * and Ctrl-C.
 */
import type { CommandIO } from '../cli/command';
import type { OpenedModel } from '../openModel';
import type { LogLevel } from '../protocol/requests';

export interface JobContext {
  jobId: string;
  /** The CLI twin's argv after its command name. Relative paths resolve against process.cwd(). */
  args: string[];
  /**
   * Aborted when the client cancels (`$/cancelRequest`) or the runtime shuts down. Check it
   * between batches (`throwIfAborted()`), pass it to generateGreedy, and leave files resumable:
   * a cancel must stop the job within one batch.
   */
  signal: AbortSignal;
  /** `done` of `total` units (batches, items, steps); `done` must not decrease. */
  progress(done: number, total: number, message?: string): void;
  log(level: LogLevel, message: string): void;
  /**
   * Opens the model that `values` (parsed with runtime/cli/modelArgs' MODEL_OPTIONS) name. When
   * the runtime already holds that very model (same path, tokenizer, provider and threads, e.g.
   * after "Select Model") it is reused instead of being loaded a second time. Always call
   * `release()` when done (it leaves a shared model loaded).
   */
  openModel(values: Record<string, unknown>): Promise<ModelLease>;
  /** CLI-style io for code written against runtime/cli/command.ts: `out` is collected into the result's output. */
  io: CommandIO;
}

export interface ModelLease {
  opened: OpenedModel;
  /** True when this is the runtime's loaded model rather than one opened for this job. */
  shared: boolean;
  release(): Promise<void>;
}

export interface JobOutcome {
  /** Extra output appended after whatever went through `ctx.io.out`. */
  output?: string;
  /** Files written that the user may want to open; made absolute by the server. */
  files?: string[];
}

export interface JobDefinition {
  /** One line saying what the job does (the CLI twin's summary). */
  summary: string;
  run(ctx: JobContext): Promise<JobOutcome | void>;
}
