/**
 * The parts of a sharded evaluation or sweep (runtime/evaluate/engine.ts writes them): ordinary
 * run files of a share of the batches, whose spec is the whole run's plus `spec.shard`. Merging
 * checks that they are every part of one run exactly once, puts each intervention's items back in
 * the run's record order, recomputes the summaries from them, and writes the run file an
 * unsharded run writes, equal to it except for the timing fields (runFile.ts withoutTiming):
 * `createdAt` is the earliest part's, `timing` adds the parts' seconds (and lists them), and each
 * result's `seconds` is the sum of its parts'.
 */
import * as fs from 'node:fs';
import { acquireOutputLock } from '../../models/common/lock';
import { runLines, summarise, writeRunFileAtomic } from '../evaluate/runFile';
import { runFileSchema, type RunFile, type RunItem } from '../protocol/results';
import { formatShard, shardProblem } from '../protocol/shards';
import { mergedOutput, type MergeOutcome } from './cacheParts';
import { checkPartSet, describePart, firstDifference, MergeError, mismatch, type PartRef } from './parts';

interface RunPart extends PartRef {
  /** The part as validated (for reading its fields). */
  run: RunFile;
  /**
   * The part exactly as written: the merge copies from this, so fields this version of the
   * schema does not know (a newer engine's) reach the merged file as they would an unsharded one.
   */
  raw: RawRun;
  target: string;
}

type RawRun = Record<string, unknown> & { spec: Record<string, unknown>; results: (Record<string, unknown> & { items: RunItem[] })[] };

export function readRunPart(file: string): RunPart {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MergeError(`${file}: not a readable JSON file (${(e as Error).message})`);
  }
  const parsed = runFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MergeError(`${file} is not a LayerLab run file: field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const run = parsed.data;
  const s = run.spec.shard;
  if (!s) throw new MergeError(`${file} is a whole run file, not a part of a sharded run (it has no field spec.shard): there is nothing to merge`);
  const problem = shardProblem(`${s.index}/${s.count}`);
  if (problem) throw new MergeError(`${file}: field spec.shard ${problem}`);
  const part: RunPart = { file, shard: { index: s.index, count: s.count }, run, raw: raw as RawRun, target: s.target };
  if (!run.complete) {
    throw new MergeError(`${describePart(part)} is not complete (field complete is false: ${run.progress.done} of ${run.progress.total} items): run the same command with --shard ${formatShard(part.shard)} again to finish it, then merge`);
  }
  return part;
}

/** The fields that differ between the parts of one run (and so are merged, not compared). */
const PER_PART = ['createdAt', 'complete', 'progress', 'results', 'timing'] as const;

/** What must be equal in every part of one run: everything but what is per part, and `spec.shard`. */
function comparable(p: RunPart): unknown {
  const rest: Record<string, unknown> = { ...p.raw };
  for (const k of PER_PART) delete rest[k];
  const { shard: _s, ...spec } = p.raw.spec;
  return { ...rest, spec, interventions: p.raw.results.map((r) => r.intervention) };
}

/** The merged run file, as an unsharded run writes it (but for the timing fields). */
export function mergeRunFiles(parts: readonly RunPart[]): RunFile {
  const ref = parts[0]!;
  const order = ref.run.spec.recordIds;
  if (!order) throw new MergeError(`${describePart(ref)} has no field spec.recordIds (written by an older LayerLab): the items' order cannot be restored; re-run the parts`);
  const rank = new Map(order.map((id, i) => [id, i]));
  const results = ref.raw.results.map((r, k) => {
    const id = ref.run.results[k]!.intervention.id;
    const seen = new Map<string, PartRef>();
    const items: RunItem[] = [];
    for (const p of parts) {
      for (const it of p.raw.results[k]!.items) {
        const other = seen.get(it.id);
        if (other) throw new MergeError(`record ${it.id} of ${id} is in two parts: ${describePart(other)} and ${describePart(p)}; the parts overlap, so they are not one run's parts: re-run them`);
        if (!rank.has(it.id)) throw new MergeError(`${describePart(p)}: record ${it.id} of ${id} is not in field spec.recordIds; the part is damaged: delete it and run its shard again`);
        seen.set(it.id, p);
        items.push(it);
      }
    }
    if (items.length !== order.length) {
      const missing = order.find((x) => !seen.has(x))!;
      throw new MergeError(`the parts hold ${items.length} of the ${order.length} records of ${id} (record ${missing} is in none of them); a part is damaged or incomplete: run its shard again`);
    }
    items.sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
    const seconds = parts.reduce((a, p) => a + p.run.results[k]!.seconds, 0);
    // A part's own per-result fields (its summary, seconds, completeness) are replaced, the rest kept.
    const { summary: _s, items: _i, seconds: _t, complete: _c, ...rest } = r;
    return { ...rest, summary: summarise(items), items, seconds };
  });
  const { shard: _s, ...spec } = ref.raw.spec;
  const done = parts.reduce((a, p) => a + p.run.progress.done, 0);
  const total = parts.reduce((a, p) => a + p.run.progress.total, 0);
  const seconds = parts.reduce((a, p) => a + p.run.timing.totalSeconds, 0);
  const createdAt = parts.map((p) => p.run.createdAt).sort()[0]!;
  // The part's keys in the part's order (the engine's), each replaced where it is per part.
  const merged: Record<string, unknown> = { ...ref.raw };
  Object.assign(merged, {
    createdAt,
    complete: true,
    spec,
    progress: { done, total },
    results,
    // Process-seconds over all parts (they may have run at once, on several machines), and each part's.
    timing: {
      totalSeconds: seconds,
      itemsPerSecond: seconds > 0 ? done / seconds : 0,
      parts: parts.map((p) => ({ shard: formatShard(p.shard), createdAt: p.run.createdAt, totalSeconds: p.run.timing.totalSeconds })),
    },
  });
  return merged as unknown as RunFile;
}

/**
 * Merges the parts of one sharded evaluation or sweep into `out` (default: the run file they
 * were run for). A complete run file of the same spec already there is left as it is.
 */
export function mergeRunParts(files: readonly string[], out?: string): MergeOutcome {
  const parts = checkPartSet(files.map(readRunPart), '.json');
  const ref = parts[0]!;
  for (const p of parts.slice(1)) {
    const d = firstDifference(comparable(p), comparable(ref));
    if (d) throw mismatch(p, ref, d);
  }
  const merged = mergeRunFiles(parts);
  const file = mergedOutput(parts, out);
  const outcome: MergeOutcome = { kind: 'run', out: file, parts: parts.length, alreadyMerged: false, units: merged.progress.done, lines: runLines(merged), run: merged };
  const lock = acquireOutputLock(file, 'run file', { hint: 'choose a writable --out' });
  try {
    const existing = readExisting(file);
    if (existing?.complete && !firstDifference(existing.spec, merged.spec)) return { ...outcome, alreadyMerged: true };
    writeRunFileAtomic(file, merged);
    return outcome;
  } finally {
    lock.release();
  }
}

function readExisting(file: string): RunFile | undefined {
  try {
    const r = runFileSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a part's run file is complete (auto-merge waits for every part to be). */
export function runPartComplete(file: string): boolean {
  return readExisting(file)?.complete === true;
}
