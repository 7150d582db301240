/**
 * Reads hidden-state caches back: what `layerlab inspect-cache` prints and the tree view shows,
 * and the per-hook rows that compute-directions needs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSafetensors } from '../../models/safetensors';
import type { CacheEntryInfo } from '../protocol/results';
import { describeCacheParts, isCachePartsDir } from '../shards/cacheParts';
import { CACHE_PART_FORMAT } from '../protocol/shards';

const FORMAT = 'layerlab-hidden-states';

/** Every cache under a folder (recursively) or the one file given, complete and partial. */
export function inspectCaches(target: string): CacheEntryInfo[] {
  const abs = path.resolve(target);
  if (!fs.existsSync(abs)) throw new Error(`${abs}: no such cache file or folder`);
  if (fs.statSync(abs).isFile()) return [inspectFile(abs)];
  const out: CacheEntryInfo[] = [];
  const walk = (dir: string) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    // A sharded cache's parts folder is one entry (parts done / total), not N partial caches.
    if (isCachePartsDir(entries.map((e) => e.name))) {
      out.push(...describeCacheParts(dir));
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name.endsWith('.safetensors.partial')) {
        const final = p.slice(0, -'.partial'.length);
        if (!fs.existsSync(final)) out.push(inspectPartial(p));
      } else if (e.isDirectory()) {
        walk(p);
      } else if (e.name.endsWith('.safetensors')) {
        try {
          const info = inspectFile(p);
          if (info.provenance.format === FORMAT) out.push(info);
        } catch {
          // not a LayerLab cache (e.g. model weights under the same folder)
        }
      }
    }
  };
  walk(abs);
  return out;
}

function inspectFile(file: string): CacheEntryInfo {
  const st = openSafetensors(file);
  const meta = st.metadata;
  if (meta.format !== FORMAT) throw new Error(`${file} is a safetensors file but not a LayerLab hidden-state cache`);
  const hooks = st.names.map((name) => {
    const h = st.header[name];
    return { name, shape: h.shape, bytes: h.dataOffsets[1] - h.dataOffsets[0] };
  });
  const rows = Number(meta.rows);
  return {
    file,
    dataName: meta.data_name ?? path.basename(file, '.safetensors'),
    complete: meta.complete === 'true',
    rowsDone: rows,
    rows,
    dModel: hooks[0]?.shape[1] ?? 0,
    dtype: meta.dtype === 'float16' ? 'float16' : 'float32',
    positions: (meta.positions as CacheEntryInfo['positions']) ?? 'last',
    hooks,
    provenance: Object.fromEntries(Object.entries(meta).filter(([k]) => !['identity', 'record_ids', 'labels', 'scores', 'row_offsets'].includes(k))),
  };
}

function inspectPartial(dir: string): CacheEntryInfo {
  const job = JSON.parse(fs.readFileSync(path.join(dir, 'job.json'), 'utf8'));
  const progressFile = path.join(dir, 'progress.json');
  const progress = fs.existsSync(progressFile) ? JSON.parse(fs.readFileSync(progressFile, 'utf8')) : { rowsDone: 0 };
  const file = dir.slice(0, -'.partial'.length);
  const rows = Number(job.metadata?.n_records ?? 0);
  const bytesPer = job.dtype === 'float16' ? 2 : 4;
  return {
    file,
    dataName: job.metadata?.data_name ?? path.basename(file, '.safetensors'),
    complete: false,
    rowsDone: progress.rowsDone,
    rows,
    dModel: job.dModel,
    dtype: job.dtype,
    positions: job.positions,
    hooks: (job.hooks as string[]).map((name) => ({ name, shape: [progress.rowsDone, job.dModel], bytes: progress.rowsDone * job.dModel * bytesPer })),
    provenance: job.metadata ?? {},
  };
}

export interface CacheContents {
  file: string;
  metadata: Record<string, string>;
  recordIds: string[];
  hooks: string[];
  dModel: number;
  /** Rows [N, d] of one hook point as fp32 (read on demand: a cache can exceed memory). */
  read(hook: string): Float32Array;
}

export function openCache(file: string): CacheContents {
  const st = openSafetensors(file);
  if (st.metadata.format === CACHE_PART_FORMAT) {
    throw new Error(`${file} is part ${st.metadata.shard} of a sharded cache, not a whole one: merge the parts first (layerlab merge ${path.dirname(file)}) and use the merged cache (${st.metadata.target})`);
  }
  if (st.metadata.format !== FORMAT) throw new Error(`${file} is not a LayerLab hidden-state cache (no format metadata)`);
  if (st.metadata.complete !== 'true') throw new Error(`${file} is not complete`);
  return {
    file,
    metadata: st.metadata,
    recordIds: JSON.parse(st.metadata.record_ids) as string[],
    hooks: [...st.names],
    dModel: st.header[st.names[0]].shape[1],
    read: (hook) => st.read(hook).data,
  };
}
