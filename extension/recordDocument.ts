/**
 * A dataset record opened from the Datasets view: a read-only virtual document
 * (`layerlab-record:/<dataset name>/<id>.json?<query>`) whose text the running runtime supplies.
 */
import type { DatasetInspection } from '../runtime/protocol/requests';

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
