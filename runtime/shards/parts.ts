/**
 * What merging any kind of parts needs: finding the part files (a folder holds them under their
 * `part-<i>-of-<N>` names), checking that one set of parts is exactly the N parts of one sharded
 * job, and naming the first field in which two parts disagree. The cache and run mergers
 * (cacheParts.ts, runParts.ts) say what a part's fields are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatShard, parsePartFileName, partFileName, type PartExtension, type Shard } from '../protocol/shards';

/** Parts that do not make one whole: the message names the part (file and shard) and the field. */
export class MergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeError';
  }
}

/** A part as every merger sees it. */
export interface PartRef {
  file: string;
  shard: Shard;
}

export function describePart(p: PartRef): string {
  return `${p.file} (shard ${formatShard(p.shard)})`;
}

/**
 * The part files named on the command line: files as given, folders expanded to the part files
 * in them. A folder with parts of two different shardings (…-of-2 and …-of-4) is ambiguous.
 */
export function expandPartPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const given of paths) {
    const abs = path.resolve(given);
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch {
      throw new MergeError(`${abs}: no such part file or folder`);
    }
    if (!st.isDirectory()) {
      out.push(abs);
      continue;
    }
    const parts = fs.readdirSync(abs).filter((n) => parsePartFileName(n) !== undefined).sort();
    if (parts.length === 0) throw new MergeError(`${abs}: no part files (part-<i>-of-<N>.safetensors or .json) in this folder`);
    const counts = [...new Set(parts.map((n) => parsePartFileName(n)!.count))];
    if (counts.length > 1) {
      throw new MergeError(`${abs} holds parts of ${counts.length} different shardings (${counts.map((c) => `…-of-${c}`).join(', ')}): name the part files of one, e.g. ${path.join(abs, `part-*-of-${counts[0]}.*`)}`);
    }
    out.push(...parts.map((n) => path.join(abs, n)));
  }
  return out;
}

/**
 * Checks that `parts` are the N parts of one sharding, each exactly once, and returns them in
 * index order. Refusals name the part and what is wrong: another shard count, a shard given
 * twice, a shard missing (and the file that would hold it).
 */
export function checkPartSet<P extends PartRef>(parts: readonly P[], ext: PartExtension): P[] {
  if (parts.length === 0) throw new MergeError('no parts to merge');
  const first = parts[0]!;
  const count = first.shard.count;
  for (const p of parts) {
    if (p.shard.count !== count) {
      throw new MergeError(`${describePart(p)} does not belong with ${describePart(first)}: field shard count differs (${p.shard.count} in the first, ${count} in the second). Merge the parts of one sharding (all …-of-${count}, or all …-of-${p.shard.count}).`);
    }
  }
  const byIndex = new Map<number, P>();
  for (const p of parts) {
    const seen = byIndex.get(p.shard.index);
    if (seen) {
      throw new MergeError(
        seen.file === p.file
          ? `${describePart(p)} is given twice: give every part once`
          : `shard ${formatShard(p.shard)} is given twice: ${seen.file} and ${p.file} are both part ${p.shard.index} of ${count}. Keep one of them.`,
      );
    }
    byIndex.set(p.shard.index, p);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length) {
    const dir = path.dirname(first.file);
    const shown = missing.slice(0, 5).map((i) => `${formatShard({ index: i, count })} (${path.join(dir, partFileName({ index: i, count }, ext))})`);
    throw new MergeError(
      `${missing.length} of ${count} parts missing: shard ${shown.join(', ')}${missing.length > 5 ? ', …' : ''}. ` +
        `Run the same command with --shard ${formatShard({ index: missing[0]!, count })}${missing.length > 1 ? ' (and the other missing ones)' : ''}, then merge again.`,
    );
  }
  return Array.from({ length: count }, (_, i) => byIndex.get(i)!);
}

/** Where two JSON values first differ: a field path like `spec.model.contentHash`, and both values. */
export function firstDifference(a: unknown, b: unknown, at = ''): { field: string; a: unknown; b: unknown } | undefined {
  if (Object.is(a, b)) return undefined;
  const bothObjects = typeof a === 'object' && typeof b === 'object' && a !== null && b !== null;
  if (!bothObjects || Array.isArray(a) !== Array.isArray(b)) return { field: at || '(the whole file)', a, b };
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return { field: `${at || '(root)'}.length`, a: a.length, b: b.length };
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const k of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
    const d = firstDifference(ao[k], bo[k], at ? `${at}.${k}` : k);
    if (d) return d;
  }
  return undefined;
}

/** A value for a message: JSON, shortened. */
export function showValue(v: unknown): string {
  if (v === undefined) return '(absent)';
  const s = typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

/**
 * The refusal for two parts of different jobs: names both parts and the field, with both values.
 * `label` turns a field path into words people know (a flag, "model hash").
 */
export function mismatch(p: PartRef, ref: PartRef, d: { field: string; a: unknown; b: unknown }, label = (f: string) => f): MergeError {
  return new MergeError(
    `${describePart(p)} does not belong with ${describePart(ref)}: field ${label(d.field)} differs (${showValue(d.a)} in the first, ${showValue(d.b)} in the second). ` +
      'Every part must come from the same command (model, data and settings) with the same shard count: re-run that shard with the command of the others, or remove it.',
  );
}
