/**
 * Which hook points' directions can serve an edit at `blocks.{block}.{kind}`, in preference
 * order: the hook point itself (so that what was measured and where it is applied agree), and
 * for a plain decoder layer the same residual stream seen from the neighbouring block (the input
 * of block l is the output of block l−1). The runtime applies the first one a directions file
 * has (runtime/evaluate/directions.ts); the editor checks with the same rule, before a job
 * starts, that a cache or directions file can serve the blocks and hook chosen.
 *
 * No imports from vscode, the DOM or Node here: the extension bundles this module.
 */
export type HookKind = 'hook_resid_pre' | 'hook_resid_post';

/**
 * `from`: the block whose direction is used (the edited block, or `--direction_layer`);
 * `parts`: each block's part (`layer` for a plain decoder; huginn's prelude, core and coda
 * blocks do not share a stream with their neighbours the same way).
 */
export function directionCandidates(from: number, kind: HookKind, parts: readonly string[]): string[] {
  const name = (b: number, k: HookKind) => `blocks.${b}.${k}`;
  const isLayer = (b: number) => parts[b] === 'layer';
  const out = [name(from, kind)];
  if (kind === 'hook_resid_pre' && from > 0 && isLayer(from) && isLayer(from - 1)) out.push(name(from - 1, 'hook_resid_post'));
  if (kind === 'hook_resid_post' && from + 1 < parts.length && isLayer(from) && isLayer(from + 1)) out.push(name(from + 1, 'hook_resid_pre'));
  return out;
}
