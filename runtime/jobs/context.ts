/**
 * What a job handler gets besides its params, from whichever face runs it (the runtime server
 * for the editor, the CLI for a terminal): cancellation, progress, logs, and the model lease.
 * A handler is `(params, context) → result` and the only place a job's logic is wired.
 */
import type { OpenedModel } from '../openModel';
import type { JobName, JobParams, JobResult, ModelRef } from '../protocol/jobs';
import type { LogLevel } from '../protocol/requests';

export interface JobContext {
  /**
   * Aborted by Cancel in the editor, Ctrl-C in the terminal, or the runtime shutting down. Check
   * it between batches and leave files resumable: a cancel must stop the job within one batch.
   */
  signal: AbortSignal;
  /** `done` of `total` units (records, items, hook points, steps); `done` never decreases. */
  progress(done: number, total: number, message?: string): void;
  log(level: LogLevel, message: string): void;
  /**
   * The model the params name, through the face's lease: the runtime reuses the model it holds
   * when the params name the same one (path, tokenizer, options, provider, threads) and
   * otherwise releases it before opening this one; the CLI opens it for this job. The face
   * releases it; handlers never do.
   */
  openModel(ref: ModelRef): Promise<OpenedModel>;
  /**
   * Releases the model the face holds, for a job that opens models on its own (check-model
   * compares two graphs of one checkpoint): one copy of the weights in memory at any moment.
   */
  releaseModel(): Promise<void>;
  /** Standard input as text: only the CLI has one (the runtime's stdin carries the protocol). */
  readStdin?(): Promise<string>;
}

export type JobHandler<N extends JobName> = (params: JobParams<N>, ctx: JobContext) => Promise<JobResult<N>>;
