/**
 * What each tree view shows, built from plain data (workspaceScan.ts, the runtime's answers) as
 * plain nodes; views.ts turns a node into a vscode.TreeItem one-to-one. Every label, description
 * and context value is decided here, where unit tests see it.
 */
import * as path from 'node:path';
import type { DatasetInspection, ModelFacts, ModelInfo } from '../runtime/protocol/requests';
import { cacheLabels, describeHooks, localTime, runAspects, runLabels } from '../runtime/protocol/labels';
import type { Accuracy, CacheEntryInfo } from '../runtime/protocol/results';
import { describeShards, partState, type ShardsState } from '../runtime/protocol/shards';
import type { DatasetEntry, FileEntry, ModelEntry, RunEntry } from './workspaceScan';

/** Context values: package.json's `view/item/context` menus match on these. */
export type NodeKind =
  | 'model' | 'dataset' | 'record' | 'cacheEntry' | 'cacheFile' | 'cacheHook' | 'run' | 'detail' | 'message' | 'shardedOutput'
  // The Reasoning Behaviours view (extension/thinking/tree.ts).
  | 'thinkingGroup' | 'chains' | 'annotations' | 'vectors' | 'thinkingChart';

export interface TreeNodeData {
  /** Unique within its view, stable across refreshes (keeps expansion and selection). */
  id: string;
  kind: NodeKind;
  label: string;
  description?: string;
  tooltip?: string;
  /** A codicon name. */
  icon?: string;
  /** The file or folder the node stands for (reveal, open, and the input of commands run on it). */
  resourcePath?: string;
  /** Run on click. */
  command?: { command: string; title: string; arguments?: unknown[] };
  children?: TreeNodeData[];
  expanded?: boolean;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function detail(parentId: string, label: string, value: string): TreeNodeData {
  return { id: `${parentId}#${label}`, kind: 'detail', label, description: value };
}

export function messageNode(id: string, text: string, icon = 'info', tooltip?: string): TreeNodeData {
  return { id: `message:${id}`, kind: 'message', label: text, icon, ...(tooltip ? { tooltip } : {}) };
}

function samePath(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}

/**
 * Models in the models folder, described by the runtime (`facts`, by path: blocks of the
 * unrolled depth, d_model, from the checkpoint's config without loading it); the one the
 * runtime holds also shows how it runs. Without the runtime's answer, a model shows its format
 * and, in `factErrors`, why the runtime cannot read it.
 */
export function modelNodes(
  entries: ModelEntry[],
  opts: { facts?: ReadonlyMap<string, ModelFacts>; factErrors?: ReadonlyMap<string, string>; loaded?: ModelInfo; selectedPath?: string } = {},
): TreeNodeData[] {
  return entries.map((e): TreeNodeData => {
    const id = `model:${e.path}`;
    const info = opts.loaded && samePath(opts.loaded.path, e.path) ? opts.loaded : undefined;
    const facts: ModelFacts | undefined = info ?? opts.facts?.get(e.path);
    const error = facts ? undefined : opts.factErrors?.get(e.path);
    const selected = opts.selectedPath !== undefined && samePath(opts.selectedPath, e.path);
    const format = e.format === 'llama2c' ? `llama2.c checkpoint${e.bytes ? `, ${formatBytes(e.bytes)}` : ''}` : 'Hugging Face folder';
    const children: TreeNodeData[] = facts
      ? [
          detail(id, 'architecture', `${facts.modelType} (${facts.architecture} graph)`),
          detail(id, 'blocks', `${facts.nBlocks} (${facts.hookPoints} hook points)${Object.keys(facts.options).length ? ` at ${JSON.stringify(facts.options)}` : ''}`),
          detail(id, 'd_model', String(facts.dModel)),
          detail(id, 'vocab', String(facts.vocabSize)),
          detail(id, 'format', format),
          ...(info ? [detail(id, 'provider', info.providerNote ? `${info.provider.toUpperCase()} (${info.providerNote})` : info.provider.toUpperCase())] : []),
        ]
      : [detail(id, 'format', format)];
    const summary = facts ? `${facts.modelType} · ${facts.nBlocks} blocks · d_model ${facts.dModel}${info ? ` · ${info.provider.toUpperCase()}` : ''}` : e.format === 'llama2c' ? 'llama2.c' : 'Hugging Face';
    return {
      id,
      kind: 'model',
      label: e.name,
      description: info ? `${summary} · loaded` : selected ? `${summary} · selected` : error ? `${summary} · unreadable` : summary,
      tooltip: [e.path, info ? `loaded in the runtime on ${info.provider.toUpperCase()}` : '', error ? `the runtime cannot read it: ${error}` : ''].filter(Boolean).join('\n'),
      icon: error ? 'warning' : info ? 'circuit-board' : 'file-binary',
      resourcePath: e.path,
      children,
    };
  });
}

/** Records listed under a dataset before the "… N more" node. */
export const RECORD_PAGE = 200;

/**
 * Datasets: with the runtime's inspection (`inspections`, by path), the record count, label
 * counts and the records themselves (opening one shows it read-only); without it, what the
 * folder scan could count. `inspectionErrors` says why the runtime could not load a file.
 */
export function datasetNodes(
  entries: DatasetEntry[],
  inspections: ReadonlyMap<string, DatasetInspection> = new Map(),
  inspectionErrors: ReadonlyMap<string, string> = new Map(),
): TreeNodeData[] {
  return entries.map((e) => {
    const id = `dataset:${e.path}`;
    const command = { command: 'layerlab.openDataset', title: 'Open Dataset', arguments: [e.path] };
    const ins = inspections.get(e.path);
    if (ins) {
      const { reasoning, memorization, unlabeled } = ins.labels;
      const labels = `R ${reasoning} / M ${memorization}${unlabeled ? ` / unlabeled ${unlabeled}` : ''}`;
      const children: TreeNodeData[] = ins.preview.slice(0, RECORD_PAGE).map((r) => ({
        id: `${id}#record:${r.id}`,
        kind: 'record' as const,
        label: r.question,
        description: [r.label ?? 'unlabeled', r.category, r.answer !== undefined ? `answer ${r.answer}` : undefined].filter(Boolean).join(' · '),
        tooltip: `${r.id} (record ${r.index + 1} of ${ins.records})`,
        icon: r.label === 'reasoning' ? 'lightbulb' : r.label === 'memorization' ? 'book' : 'circle-outline',
        command: { command: 'layerlab.openRecord', title: 'Open Record', arguments: [{ file: e.path, recordId: r.id }] },
      }));
      const shown = children.length;
      if (ins.records > shown) children.push(messageNode(`${id}#more`, `… ${ins.records - shown} more`, 'ellipsis', 'Open the dataset to see every record.'));
      return {
        id,
        kind: 'dataset',
        label: e.name,
        description: [`${ins.records} records`, labels, formatBytes(e.bytes)].join(' · '),
        tooltip: [
          e.path,
          `${ins.kind}${ins.split ? ` (split ${ins.split})` : ''}: ${ins.records} records`,
          `reasoning ${reasoning}, memorization ${memorization}, unlabeled ${unlabeled}`,
          ...ins.warnings.map((w) => `warning: ${w}`),
        ].join('\n'),
        icon: ins.warnings.length ? 'warning' : 'database',
        resourcePath: e.path,
        command,
        children,
      };
    }
    const counts = e.splits
      ? Object.entries(e.splits)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')
      : e.records !== undefined
        ? `${e.records} records`
        : undefined;
    const runtimeError = inspectionErrors.get(e.path);
    const error = e.error ? `cannot count records: ${e.error}` : runtimeError ? `the runtime cannot load it: ${runtimeError}` : undefined;
    return {
      id,
      kind: 'dataset',
      label: e.name,
      description: [counts, formatBytes(e.bytes)].filter(Boolean).join(' · '),
      tooltip: error ? `${e.path}\n${error}` : e.path,
      icon: error ? 'warning' : 'database',
      resourcePath: e.path,
      command,
    };
  });
}

/**
 * Caches as the runtime describes them: labelled by dataset and model (and, among caches of
 * the same two, by the settings that differ), expanding to hook points (shape, dtype, size).
 */
export function cacheNodes(entries: CacheEntryInfo[]): TreeNodeData[] {
  const labels = cacheLabels(entries.map((c) => ({ key: c.file, cache: c })));
  return entries.map((c) => {
    if (c.shards) return shardedCacheNode(c, c.shards);
    const id = `cache:${c.file}`;
    const state = c.complete ? 'complete' : `partial ${c.rowsDone}/${c.rows}`;
    return {
      id,
      kind: 'cacheEntry',
      label: labels.get(c.file)!,
      description: `${path.basename(c.file)} · ${describeHooks(c.hooks.map((h) => h.name))} · ${c.rows} rows · ${c.dtype} · ${state}`,
      tooltip: [c.file, `positions: ${c.positions}`, ...Object.entries(c.provenance).map(([k, v]) => `${k}: ${v}`)].join('\n'),
      icon: c.complete ? 'layers' : 'layers-dot',
      resourcePath: c.file,
      children: c.hooks.map((h) => ({
        id: `${id}#${h.name}`,
        kind: 'cacheHook' as const,
        label: h.name,
        description: `[${h.shape.join(', ')}] ${c.dtype} · ${formatBytes(h.bytes)}`,
        resourcePath: c.file,
      })),
    };
  });
}

/** Cache files when the runtime cannot describe them: name and size, and why there is no more. */
export function cacheFileNodes(files: FileEntry[], why: string): TreeNodeData[] {
  return files.map((f) => ({
    id: `cachefile:${f.path}`,
    kind: 'cacheFile',
    label: f.name,
    description: formatBytes(f.bytes),
    tooltip: `${f.path}\n${why}`,
    icon: 'layers',
    resourcePath: f.path,
  }));
}

export { localTime };

function pct(a: Accuracy): string {
  return `${(a.accuracy * 100).toFixed(1)}%`;
}

/**
 * Runs, newest first, labelled by command, dataset and model, and among runs of the same three
 * by the settings that differ (scoring, interventions, sample…), so no two rows read alike. The
 * parts of a sharded run not merged yet are grouped into one node first.
 */
export function runNodes(all: RunEntry[]): TreeNodeData[] {
  const { entries, sharded } = groupRunParts(all);
  const labels = runLabels(entries.flatMap((e) => (e.kind === 'run' ? [{ key: e.path, run: e.run }] : [])));
  return [...sharded, ...entries.map((e): TreeNodeData => {
    const when = localTime(e.mtimeMs);
    if (e.kind === 'unreadable') {
      return { id: `run:${e.path}`, kind: 'run', label: e.name, description: 'unreadable', tooltip: e.error, icon: 'warning', resourcePath: e.path };
    }
    const r = e.run;
    const first = r.results[0];
    const headline = first ? `R ${pct(first.summary.reasoning)} / M ${pct(first.summary.memorization)}` : 'no results yet';
    return {
      id: `run:${e.path}`,
      kind: 'run',
      label: labels.get(e.path)!,
      description: `${r.complete ? '' : `partial ${r.progress.done}/${r.progress.total} · `}${headline} · ${when}`,
      tooltip: [e.path, `model ${r.spec.model.path}`, ...runAspects(r).map((a) => `${a.name}: ${a.text}`), `provider ${r.provider}`].join('\n'),
      icon: r.complete ? 'graph' : 'graph-line',
      resourcePath: e.path,
      command: { command: 'layerlab.openRunChart', title: 'Open Run Chart', arguments: [e.path] },
      children: r.results.map((res) => ({
        id: `run:${e.path}#${res.intervention.id}`,
        kind: 'detail' as const,
        label: res.intervention.id,
        description: `reasoning ${pct(res.summary.reasoning)} · memorization ${pct(res.summary.memorization)}`,
      })),
    };
  })];
}

// ---------------------------------------------------------------------------------------------
// Sharded outputs (`--shard i/N`): one node per output being computed in parts, until merged.

/** A sharded cache not merged yet: parts done of all, the rows done over every part. */
function shardedCacheNode(c: CacheEntryInfo, s: ShardsState): TreeNodeData {
  const id = `shards:${s.dir}:${s.count}`;
  return {
    id,
    kind: 'shardedOutput',
    label: c.dataName,
    description: `${path.basename(c.file)} · ${describeShards(s)} · ${c.rowsDone}/${c.rows} rows`,
    tooltip: [`${c.file} (not written until every part is done and merged)`, `parts: ${s.dir}`, ...Object.entries(c.provenance).map(([k, v]) => `${k}: ${v}`)].join('\n'),
    icon: 'layers-dot',
    resourcePath: s.dir,
    children: partNodes(id, s.count, (i) => partState(s, i)),
  };
}

/** Parts of a sharding, one line each (the first RECORD_PAGE of them). */
function partNodes(parentId: string, count: number, state: (i: number) => string): TreeNodeData[] {
  const shown = Math.min(count, RECORD_PAGE);
  const nodes = Array.from({ length: shown }, (_, i) => detail(parentId, `part ${i}/${count}`, state(i)));
  if (count > shown) nodes.push(messageNode(`${parentId}#more`, `… ${count - shown} more parts`, 'ellipsis'));
  return nodes;
}

/**
 * Parts of sharded runs grouped into one node per sharding (parts done of all, items done over
 * them); parts of runs already merged are left out, the merged run file being listed itself.
 */
function groupRunParts(all: RunEntry[]): { entries: RunEntry[]; sharded: TreeNodeData[] } {
  const groups = new Map<string, Extract<RunEntry, { kind: 'run' }>[]>();
  const entries: RunEntry[] = [];
  for (const e of all) {
    const shard = e.kind === 'run' ? e.run.spec.shard : undefined;
    if (e.kind !== 'run' || !shard) entries.push(e);
    else if (!e.targetExists) {
      const key = `${path.dirname(e.path)}:${shard.count}`;
      groups.set(key, [...(groups.get(key) ?? []), e]);
    }
  }
  const sharded = [...groups.entries()].map(([key, parts]): TreeNodeData => {
    const first = parts[0]!;
    const count = first.run.spec.shard!.count;
    const byIndex = new Map(parts.map((p) => [p.run.spec.shard!.index, p]));
    const done = parts.filter((p) => p.run.complete).map((p) => p.run.spec.shard!.index);
    const state: ShardsState = { dir: path.dirname(first.path), count, done, started: parts.filter((p) => !p.run.complete).map((p) => p.run.spec.shard!.index), target: first.run.spec.shard!.target, merged: false };
    const items = parts.reduce((a, p) => a + p.run.progress.done, 0);
    const id = `shards:${key}`;
    return {
      id,
      kind: 'shardedOutput',
      label: `${first.run.spec.command} · ${first.run.spec.data.name}`,
      description: `${describeShards(state)} · ${items} items done · ${localTime(Math.max(...parts.map((p) => p.mtimeMs)))}`,
      tooltip: `${state.target} (written when every part is done and merged)\nparts: ${state.dir}\nmodel ${first.run.spec.model.path}`,
      icon: 'graph-line',
      resourcePath: state.dir,
      children: partNodes(id, count, (i) => {
        const p = byIndex.get(i);
        return !p ? 'not started' : p.run.complete ? 'done' : `started, ${p.run.progress.done}/${p.run.progress.total} items`;
      }),
    };
  });
  return { entries, sharded };
}
