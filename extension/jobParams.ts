/**
 * Small pieces of the params the palette sends (the job forms, jobForm.ts, build the rest from
 * the jobs' schemas): the model fields from the settings, and the layer lists typed in a form.
 */
import type { ModelRef } from '../runtime/protocol/jobs';
import type { LayerLabSettings } from './settings';

/** How the settings open a model: the model fields every model-using job shares. */
export function modelRef(model: string, s: Pick<LayerLabSettings, 'provider' | 'weights' | 'threads'>): ModelRef {
  return { model, provider: s.provider, weights: s.weights, ...(s.threads > 0 ? { threads: s.threads } : {}) };
}

/**
 * Parses a layer list as typed in an input box: `66`, `64 66 68`, `64,66`, `60-64`. Returns the
 * sorted unique layers, or an error message naming the problem (for the input box's validation).
 */
export function parseLayerList(text: string, nBlocks?: number): number[] | string {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) return 'enter at least one layer, e.g. 12 or 10-14';
  const layers = new Set<number>();
  for (const p of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) return `'${p}' is not a layer number or range (like 12 or 10-14)`;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return `range ${p} runs backwards`;
    for (let l = a; l <= b; l++) {
      if (nBlocks !== undefined && l >= nBlocks) return `layer ${l} does not exist: the model has blocks 0..${nBlocks - 1}`;
      layers.add(l);
    }
  }
  return [...layers].sort((x, y) => x - y);
}

/** The middle block, the seed's default choice (layer 66 of huginn's 132). */
export function middleLayer(nBlocks: number): number {
  return Math.floor(nBlocks / 2);
}

/** A number as typed in an input box, or what is wrong with it (for the box's validation). */
export function parseScale(text: string): number | string {
  const n = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(n) ? n : `'${text}' is not a number`;
}
