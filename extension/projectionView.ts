/**
 * What Show Projection puts on editor text, as plain data (no vscode here, so unit tests cover
 * it): where each token of the projected prompt lies in the document, which colour level it gets
 * at the chosen layer (the diverging scale of runtime/protocol/probe.ts, shared with the
 * projection page), which positions a steering edit applied at, and the hover: the token id, its
 * value, and the value across all layers as a small inline chart.
 */
import { projectionDomain, projectionLevel, sparklineGeometry, type ProjectionResult } from '../runtime/protocol/probe';

export interface DocRange {
  /** Document offsets, [start, end). */
  start: number;
  end: number;
  token: number;
}

export interface DecorationPlan {
  /** level (±1..±5) → ranges of that colour */
  byLevel: Map<number, DocRange[]>;
  /** Tokens where a steering edit applied (outlined). */
  edited: DocRange[];
  /** The layer's largest |x·d̂|: the scale's ends. */
  domain: number;
  /** Tokens with no characters in the document (BOS, pieces merged into a neighbour). */
  unplaced: number;
}

/**
 * Where the prompt's decoded text sits in the projected document text: the tokenizer may not give
 * back the text exactly (SentencePiece drops a leading space, normalizers change whitespace), so
 * the decoded text is looked up in the source text; undefined when it is not there.
 */
export function textOffset(decoded: string, source: string): number | undefined {
  if (decoded === source) return 0;
  const at = source.indexOf(decoded);
  return at >= 0 ? at : undefined;
}

/** The decorations of one layer; `base` is the document offset of the projected text's start. */
export function decorationPlan(result: ProjectionResult, hookIndex: number, base: number): DecorationPlan {
  const values = result.values[hookIndex];
  if (!values) throw new RangeError(`no layer ${hookIndex}: the projection has ${result.values.length}`);
  const domain = projectionDomain(values);
  const byLevel = new Map<number, DocRange[]>();
  const edited: DocRange[] = [];
  const editedSet = new Set(result.editedPositions);
  let unplaced = 0;
  result.prompt.tokens.forEach((t, i) => {
    if (t.end <= t.start) {
      unplaced++;
      return;
    }
    const r: DocRange = { start: base + t.start, end: base + t.end, token: i };
    const level = projectionLevel(values[i]!, domain);
    if (level !== 0) byLevel.set(level, [...(byLevel.get(level) ?? []), r]);
    if (editedSet.has(i)) edited.push(r);
  });
  return { byLevel, edited, domain, unplaced };
}

/** The token under a document offset, or undefined. */
export function tokenAt(result: ProjectionResult, base: number, offset: number): number | undefined {
  const i = result.prompt.tokens.findIndex((t) => t.end > t.start && offset >= base + t.start && offset < base + t.end);
  return i >= 0 ? i : undefined;
}

/**
 * A small line chart of `values` (one per layer) as an SVG document: zero line, the curve, the
 * chosen layer marked. Colours are fixed mid-tones readable on light and dark hovers, since an
 * image in a hover cannot read the theme.
 */
export function sparklineSvg(values: readonly number[], highlight: number, width = 220, height = 56): string {
  const pad = 4;
  const { points, zeroY } = sparklineGeometry(values, width, height, pad);
  const [hx, hy] = points[highlight] ?? [width / 2, zeroY];
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<line x1="${pad}" x2="${width - pad}" y1="${zeroY.toFixed(1)}" y2="${zeroY.toFixed(1)}" stroke="#888888" stroke-width="1" stroke-dasharray="3 2"/>` +
    `<polyline points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}" fill="none" stroke="#3794ff" stroke-width="2"/>` +
    `<circle cx="${hx.toFixed(1)}" cy="${hy.toFixed(1)}" r="3.5" fill="#d18616"/>` +
    `</svg>`
  );
}

export function dataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}

/** The hover of token `i` at layer `hookIndex`, as Markdown. */
export function hoverMarkdown(result: ProjectionResult, i: number, hookIndex: number): string {
  const t = result.prompt.tokens[i]!;
  const across = result.values.map((v) => v[i]!);
  const piece = JSON.stringify(t.piece);
  const lines = [
    `**${piece}** · token id ${t.id} · position ${i}${result.editedPositions.includes(i) ? ' · *steered here*' : ''}`,
    '',
    `x·d̂ at ${result.labels[hookIndex]} (${result.hooks[hookIndex]}): **${across[hookIndex]!.toFixed(4)}**`,
    '',
    `![x·d̂ across layers](${dataUri(sparklineSvg(across, hookIndex))})`,
    '',
    `across layers ${result.labels[0]} … ${result.labels.at(-1)}: ${across.map((v) => v.toFixed(2)).join(', ')}`,
  ];
  return lines.join('\n');
}
