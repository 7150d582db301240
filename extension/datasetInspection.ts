/**
 * What the runtime said about each dataset file (`layerlab/inspectDataset`), kept per file path
 * and modification time so that refreshing the Datasets view asks again only for files that
 * changed. Nothing here imports `vscode`; the runtime is reached through an injected function,
 * and the caller decides whether asking is allowed (only a runtime that is already running).
 */
import * as fs from 'node:fs';
import type { DatasetInspection, InspectDatasetParams } from '../runtime/protocol/requests';

export type Inspect = (params: InspectDatasetParams) => Promise<DatasetInspection>;

/** An inspection, or why there is none (the runtime could not load the file). */
export type InspectionResult = { ok: true; inspection: DatasetInspection } | { ok: false; error: string };

export class DatasetInspections {
  private readonly cache = new Map<string, { mtimeMs: number; size: number; result: Promise<InspectionResult> }>();

  constructor(private readonly stat: (file: string) => Promise<{ mtimeMs: number; size: number }> = (f) => fs.promises.stat(f)) {}

  /**
   * The inspection of `file`, from the cache while the file is unchanged. A failure the runtime
   * answered (e.g. the file is not a dataset) is cached too; a failure to ask (the runtime
   * stopped) is not.
   */
  async get(file: string, inspect: Inspect, isRequestFailure: (e: unknown) => boolean = () => true): Promise<InspectionResult> {
    const st = await this.stat(file);
    const hit = this.cache.get(file);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.result;
    const result = inspect({ file }).then(
      (inspection): InspectionResult => ({ ok: true, inspection }),
      (e: unknown): InspectionResult => {
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

  /** Forgets everything (e.g. after a runtime restart with another build). */
  clear(): void {
    this.cache.clear();
  }
}

/** The read-only document a record opens as: `layerlab-record:/<dataset name>/<id>.json?<query>`. */
export const RECORD_SCHEME = 'layerlab-record';

export function recordQuery(file: string, id: string): string {
  return JSON.stringify({ file, id });
}

export function parseRecordQuery(query: string): { file: string; id: string } | undefined {
  try {
    const v = JSON.parse(query) as { file?: unknown; id?: unknown };
    return typeof v.file === 'string' && typeof v.id === 'string' ? { file: v.file, id: v.id } : undefined;
  } catch {
    return undefined;
  }
}

/** The text of a record's read-only document, from a `recordId` inspection. */
export function recordDocumentText(file: string, id: string, inspection: DatasetInspection | undefined, why?: string): string {
  const record = inspection?.preview.find((r) => r.id === id);
  if (!record) {
    return `// ${why ?? `record ${id} is not in ${file} (any more)`}\n`;
  }
  return `${JSON.stringify({ dataset: inspection!.name, kind: inspection!.kind, file, ...record }, null, 2)}\n`;
}
