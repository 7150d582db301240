/**
 * Turns whatever a handler throws into a `ResponseError` whose `data.kind` tells the extension
 * what went wrong, so it can word the message without parsing error text. The message itself is
 * the one the CLI twin would print.
 */
import { ResponseError } from 'vscode-jsonrpc';
import { RUNTIME_ERROR_CODES, type RuntimeErrorData, type RuntimeErrorKind } from '../protocol/requests';

/** An error a handler raises on purpose, with its kind already decided. */
export class RuntimeError extends Error {
  constructor(
    readonly kind: RuntimeErrorKind,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/**
 * The user-facing error classes of models/, datasets/ and runtime/, by `name`: each names the
 * file, flag or record at fault and says what to do. Matching by name rather than instanceof
 * keeps this table free of imports from every module that defines one; a new error class is one
 * line here (an unlisted one is reported as `internal`, with its stack in the log).
 */
const KNOWN_ERRORS: Record<string, RuntimeErrorKind> = {
  UsageError: 'usage',
  EvaluateError: 'usage',
  CheckpointError: 'model',
  ModelInputError: 'model',
  DatasetError: 'data',
  LabelRuleError: 'data',
  PromptError: 'data',
  CacheError: 'data',
};

export function responseError(kind: RuntimeErrorKind, message: string, hint?: string): ResponseError<RuntimeErrorData> {
  return new ResponseError<RuntimeErrorData>(RUNTIME_ERROR_CODES[kind], message, hint ? { kind, hint } : { kind });
}

/**
 * Classifies an error. `signal` matters because a cancelled job may fail with whatever error its
 * interrupted work raised (a closed session, a half-written batch); once the client asked to
 * cancel, the reply is `cancelled` regardless.
 */
export function toResponseError(e: unknown, signal?: AbortSignal): ResponseError<RuntimeErrorData> {
  if (e instanceof ResponseError) return e as ResponseError<RuntimeErrorData>;
  const err = e as Error | undefined;
  if (signal?.aborted || err?.name === 'CancelledError' || err?.name === 'AbortError') return responseError('cancelled', 'cancelled');
  if (e instanceof RuntimeError) return responseError(e.kind, e.message, e.hint);
  const message = err?.message ?? String(e);
  const known = err?.name ? KNOWN_ERRORS[err.name] : undefined;
  if (known) return responseError(known, message);
  if (typeof (e as NodeJS.ErrnoException)?.code === 'string' && (e as NodeJS.ErrnoException).syscall) return responseError('io', message);
  return responseError('internal', message, 'This is a LayerLab bug; the LayerLab output has the stack trace.');
}
