import * as fs from 'node:fs';
import * as path from 'node:path';

/** `../shared/data` beside the repository, or `$LAYERLAB_SHARED_DATA`. */
export const SHARED_DATA = process.env.LAYERLAB_SHARED_DATA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'data');

/**
 * Path of a file under the shared reference data, or a one-line skip reason when it is absent
 * (a fresh clone has no ../shared). Use as `const p = sharedFile('x'); test('..', { skip: p.skip }, ...)`.
 */
export function sharedFile(rel: string): { path: string; skip: string | false } {
  const p = path.join(SHARED_DATA, rel);
  return { path: p, skip: fs.existsSync(p) ? false : `shared reference data absent: ${p}` };
}
