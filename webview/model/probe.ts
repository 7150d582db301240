/**
 * What the probing pages draw, from job results only (no DOM here, so node unit tests cover it):
 * the logit-lens grid, the projection of every token at every layer with its colour level, and
 * the per-token KL of Steer & Compare, each with the table its CSV export and data view show.
 */
import { projectionDomain, projectionLevel, type LogitLensResult, type ProjectionResult, type SteerCompareResult, type TopToken } from '../../runtime/protocol/probe';
import type { TableData } from './run';

/** A token piece as a label: whitespace made visible, empty (BOS) shown as ∅. */
export function tokenLabel(piece: string): string {
  if (piece === '') return '∅';
  return piece.replace(/\n/g, '⏎').replace(/\t/g, '⇥').replace(/ /g, '·').replace(/\r/g, '␍');
}

// ---------------------------------------------------------------------------------------------
// Logit lens

export interface LensCell {
  col: number;
  row: number;
  /** Top-1 probability: the cell's colour. */
  prob: number;
  /** The top token, as a label. */
  text: string;
  top: TopToken[];
}

export interface LensGrid {
  /** Positions: the prompt's tokens. */
  cols: string[];
  /** Layers (hook labels), then the model's own output. */
  rows: string[];
  hooks: string[];
  cells: LensCell[];
}

export const OUTPUT_ROW = 'model output';

export function lensGrid(r: LogitLensResult): LensGrid {
  const rows = [...r.labels, OUTPUT_ROW];
  const all = [...r.cells, r.output];
  const cells: LensCell[] = [];
  all.forEach((row, ri) => row.forEach((top, ci) => cells.push({ col: ci, row: ri, prob: top[0]?.prob ?? 0, text: tokenLabel(top[0]?.piece ?? ''), top })));
  return { cols: r.prompt.tokens.map((t) => tokenLabel(t.piece)), rows, hooks: [...r.hooks, 'output'], cells };
}

export function lensTable(r: LogitLensResult): TableData {
  const g = lensGrid(r);
  const rows: TableData['rows'] = [];
  for (const c of g.cells) c.top.forEach((t, k) => rows.push([g.rows[c.row]!, g.hooks[c.row]!, c.col, r.prompt.tokens[c.col]!.piece, k + 1, t.id, t.piece, t.prob]));
  return { columns: ['layer', 'hook', 'position', 'token', 'rank', 'id', 'piece', 'probability'], rows };
}

// ---------------------------------------------------------------------------------------------
// Projection

export interface ProjectedToken {
  index: number;
  id: number;
  piece: string;
  /** The token's characters in the decoded text ('' for BOS). */
  text: string;
  value: number;
  /** Colour level, −5..5 (0: none). */
  level: number;
  edited: boolean;
}

export interface ProjectionLayerView {
  hook: string;
  label: string;
  domain: number;
  tokens: ProjectedToken[];
}

export function projectionLayer(r: ProjectionResult, hookIndex: number): ProjectionLayerView {
  const values = r.values[hookIndex]!;
  const domain = projectionDomain(values);
  const edited = new Set(r.editedPositions);
  return {
    hook: r.hooks[hookIndex]!,
    label: r.labels[hookIndex]!,
    domain,
    tokens: r.prompt.tokens.map((t, i) => ({
      index: i,
      id: t.id,
      piece: t.piece,
      text: r.prompt.text.slice(t.start, t.end),
      value: values[i]!,
      level: projectionLevel(values[i]!, domain),
      edited: edited.has(i),
    })),
  };
}

/** One token's value at every layer (the hover chart). */
export function acrossLayers(r: ProjectionResult, token: number): number[] {
  return r.values.map((v) => v[token]!);
}

export function projectionTable(r: ProjectionResult): TableData {
  const edited = new Set(r.editedPositions);
  const rows: TableData['rows'] = [];
  r.hooks.forEach((hook, h) => r.prompt.tokens.forEach((t, i) => rows.push([hook, r.labels[h]!, i, t.id, t.piece, r.values[h]![i]!, edited.has(i)])));
  return { columns: ['hook', 'layer', 'position', 'id', 'piece', 'value', 'steered'], rows };
}

// ---------------------------------------------------------------------------------------------
// Steer & Compare

export interface KlBar {
  /** Index into the unsteered continuation's tokens. */
  index: number;
  label: string;
  kl: number;
}

/** The KL at each token of the unsteered continuation (the token the distributions predict). */
export function klBars(r: SteerCompareResult): KlBar[] {
  return r.kl.map((kl, i) => ({ index: i, label: tokenLabel(r.base.tokens[i]?.piece ?? ''), kl }));
}

export function klTable(r: SteerCompareResult): TableData {
  return {
    columns: ['position', 'unsteered token', 'KL(unsteered ‖ steered), nats'],
    rows: r.kl.map((kl, i) => [i, r.base.tokens[i]?.piece ?? '', kl]),
  };
}
