/**
 * The Reasoning Behaviours view: what the thinking workflow wrote under the output folder's
 * `thinking/`, in three groups — Chains, Annotations, Vectors (with each vectors file's layer
 * effects and steering evaluation beneath it). Discovery reads the files' own headers; a file
 * that cannot be read shows why instead of hiding.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BEHAVIOURS, vectorStatsFileSchema, type VectorStatsFile } from '../../runtime/protocol/thinking';
import type { TreeNodeData } from '../treeData';

export interface ThinkingFiles {
  chains: { path: string; count: number | null; error?: string }[];
  annotations: { path: string; annotator: string | null; byCategory: Record<string, number>; error?: string }[];
  vectors: { path: string; stats?: VectorStatsFile; effects?: string; steering?: string; error?: string }[];
}

async function walk(dir: string, out: string[] = [], depth = 4): Promise<string[]> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && depth > 0 && !e.name.endsWith('.lock')) await walk(p, out, depth - 1);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

const ANNOTATIONS_RE = /\.annotations\.[\w-]+\.jsonl$|\.annotations\.jsonl$/;

/** The workflow's files under `dir`, sorted by path. */
export async function scanThinking(dir: string): Promise<ThinkingFiles> {
  const files = (await walk(dir)).sort();
  const out: ThinkingFiles = { chains: [], annotations: [], vectors: [] };
  for (const f of files) {
    if (f.endsWith('.chains.jsonl')) {
      try {
        const text = await fs.promises.readFile(f, 'utf8');
        out.chains.push({ path: f, count: text.split('\n').filter((l) => l.trim()).length });
      } catch (e) {
        out.chains.push({ path: f, count: null, error: (e as Error).message });
      }
    } else if (ANNOTATIONS_RE.test(f) && !f.endsWith('.replies.jsonl')) {
      try {
        const lines = (await fs.promises.readFile(f, 'utf8')).split('\n').filter((l) => l.trim());
        let annotator: string | null = null;
        const byCategory: Record<string, number> = {};
        for (const [i, l] of lines.entries()) {
          const o = JSON.parse(l) as { layerlab?: string; annotator?: { kind?: string }; category?: string; label?: string };
          if (i === 0 && o.layerlab === 'annotations') annotator = o.annotator?.kind ?? null;
          else {
            const c = o.category ?? o.label ?? '?';
            byCategory[c] = (byCategory[c] ?? 0) + 1;
          }
        }
        out.annotations.push({ path: f, annotator, byCategory });
      } catch (e) {
        out.annotations.push({ path: f, annotator: null, byCategory: {}, error: (e as Error).message });
      }
    } else if (f.endsWith('.vectors.safetensors')) {
      const statsFile = f.replace(/\.safetensors$/, '.json');
      const beside = (suffix: string) => {
        const p = f.replace(/\.vectors\.safetensors$/, `.${suffix}.json`);
        return fs.existsSync(p) ? p : undefined;
      };
      try {
        const stats = vectorStatsFileSchema.parse(JSON.parse(await fs.promises.readFile(statsFile, 'utf8')));
        out.vectors.push({ path: f, stats, effects: beside('effects'), steering: beside('steering') });
      } catch (e) {
        out.vectors.push({ path: f, error: `statistics ${path.basename(statsFile)}: ${(e as Error).message.split('\n')[0]}` });
      }
    }
  }
  return out;
}

const rel = (root: string, p: string) => path.relative(root, p) || path.basename(p);

/** The view's nodes: three groups, always shown (an empty group says how to fill it). */
export function thinkingNodes(files: ThinkingFiles, root: string): TreeNodeData[] {
  const group = (id: string, label: string, icon: string, children: TreeNodeData[], empty: string): TreeNodeData => ({
    id: `thinking:${id}`,
    kind: 'thinkingGroup',
    label,
    icon,
    description: String(children.length),
    expanded: true,
    children: children.length ? children : [{ id: `thinking:${id}#empty`, kind: 'message', label: empty, icon: 'info' }],
  });
  const chains = files.chains.map((c): TreeNodeData => ({
    id: `chains:${c.path}`,
    kind: 'chains',
    label: rel(root, c.path),
    description: c.error ? 'unreadable' : `${c.count} chains`,
    tooltip: c.error ?? c.path,
    icon: c.error ? 'warning' : 'comment-discussion',
    resourcePath: c.path,
    command: { command: 'layerlab.openDataset', title: 'Open (read-only)', arguments: [c.path] },
  }));
  const annotations = files.annotations.map((a): TreeNodeData => {
    const total = Object.values(a.byCategory).reduce((s, n) => s + n, 0);
    return {
      id: `annotations:${a.path}`,
      kind: 'annotations',
      label: rel(root, a.path),
      description: a.error ? 'unreadable' : `${a.annotator ?? 'imported'} · ${total} spans`,
      tooltip: a.error ?? [a.path, ...BEHAVIOURS.map((b) => `${b}: ${a.byCategory[b] ?? 0}`)].join('\n'),
      icon: a.error ? 'warning' : 'tag',
      resourcePath: a.path,
      command: { command: 'layerlab.openAnnotations', title: 'Open Annotations', arguments: [a.path] },
    };
  });
  const vectors = files.vectors.map((v): TreeNodeData => {
    const children: TreeNodeData[] = [];
    if (v.effects) children.push({ id: `chart:${v.effects}`, kind: 'thinkingChart', label: 'Layer effects', description: path.basename(v.effects), icon: 'graph-line', resourcePath: v.effects, command: { command: 'layerlab.openBehaviourChart', title: 'Open Chart', arguments: [v.effects] } });
    if (v.steering) children.push({ id: `chart:${v.steering}`, kind: 'thinkingChart', label: 'Steering', description: path.basename(v.steering), icon: 'arrow-swap', resourcePath: v.steering, command: { command: 'layerlab.openBehaviourChart', title: 'Open Chart', arguments: [v.steering] } });
    const statsFile = v.path.replace(/\.safetensors$/, '.json');
    return {
      id: `vectors:${v.path}`,
      kind: 'vectors',
      label: rel(root, v.path),
      description: v.error ? 'unreadable' : `${v.stats!.categories.map((c) => c.category).join(', ')} · ${v.stats!.hooks.length} hook points`,
      tooltip: v.error ?? v.path,
      icon: v.error ? 'warning' : 'compass',
      resourcePath: v.path,
      ...(v.error ? {} : { command: { command: 'layerlab.openBehaviourChart', title: 'Open Chart', arguments: [statsFile] } }),
      children,
      expanded: true,
    };
  });
  return [
    group('chains', 'Chains', 'comment-discussion', chains, 'No chains yet: LayerLab: Generate Reasoning Chains'),
    group('annotations', 'Annotations', 'tag', annotations, 'No annotations yet: LayerLab: Annotate Chains'),
    group('vectors', 'Vectors', 'compass', vectors, 'No vectors yet: LayerLab: Compute Behaviour Vectors'),
  ];
}
