/**
 * What the runtime said about each file the views list (a dataset's `layerlab/inspectDataset`,
 * a model's `layerlab/describeModel`), kept per path and modification time so that refreshing a
 * view asks again only for files that changed. Nothing here imports `vscode`; the runtime is
 * reached through an injected function, and the caller decides whether asking is allowed (only
 * a runtime that is already running).
 */
import * as fs from 'node:fs';

/** An answer, or why there is none (the runtime could not read the file). */
export type AnswerResult<T> = { ok: true; value: T } | { ok: false; error: string };

export class FileAnswers<T> {
  private readonly cache = new Map<string, { mtimeMs: number; size: number; result: Promise<AnswerResult<T>> }>();

  constructor(private readonly stat: (file: string) => Promise<{ mtimeMs: number; size: number }> = (f) => fs.promises.stat(f)) {}

  /**
   * The answer about `file`, from the cache while the file is unchanged. A failure the runtime
   * answered (e.g. the file is not a dataset) is cached too; a failure to ask (the runtime
   * stopped) is not.
   */
  async get(file: string, ask: (file: string) => Promise<T>, isRequestFailure: (e: unknown) => boolean = () => true): Promise<AnswerResult<T>> {
    const st = await this.stat(file);
    const hit = this.cache.get(file);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.result;
    const result = ask(file).then(
      (value): AnswerResult<T> => ({ ok: true, value }),
      (e: unknown): AnswerResult<T> => {
        if (!isRequestFailure(e)) {
          this.cache.delete(file);
          throw e;
        }
        return { ok: false, error: (e as Error)?.message ?? String(e) };
      },
    );
    this.cache.set(file, { mtimeMs: st.mtimeMs, size: st.size, result });
    result.catch(() => {});
    return result;
  }

  /**
   * The answers about several files at once: values and the runtime's refusals by path. A failure
   * to ask (the runtime went away) leaves the file out and is reported to `onAskFailed`.
   */
  async getAll(
    files: readonly { path: string; name: string }[],
    ask: (file: string) => Promise<T>,
    isRequestFailure: (e: unknown) => boolean,
    onAskFailed: (name: string, e: Error) => void,
  ): Promise<{ values: Map<string, T>; errors: Map<string, string> }> {
    const values = new Map<string, T>();
    const errors = new Map<string, string>();
    await Promise.all(
      files.map(async (f) => {
        try {
          const r = await this.get(f.path, ask, isRequestFailure);
          if (r.ok) values.set(f.path, r.value);
          else errors.set(f.path, r.error);
        } catch (e) {
          onAskFailed(f.name, e as Error);
        }
      }),
    );
    return { values, errors };
  }

  /** Forgets everything (e.g. after a runtime restart with another build). */
  clear(): void {
    this.cache.clear();
  }
}
