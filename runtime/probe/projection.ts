/**
 * Show Projection: x·d̂ for every token of a prompt at every asked hook point, d̂ the unit
 * direction at that hook (a directions file gives each hook its own), in one forward pass that
 * may be steered; the positions an edit applied at are reported so the editor can mark them.
 */
import type { EditPositions, HookEdit, InstrumentedModel } from '../model';
import type { VectorSet } from '../steering/vectors';

export interface Projections {
  /** values[hook][position] */
  values: number[][];
  directionFrom: string[];
  editedPositions: number[];
}

export async function projectTokens(
  model: InstrumentedModel,
  ids: number[],
  o: { hooks: string[]; directions: VectorSet; edits?: HookEdit[]; editPositions?: EditPositions },
): Promise<Projections> {
  const d = model.spec.dModel;
  const S = ids.length;
  const units = o.hooks.map((hook) => {
    const { vector, from } = o.directions.at(hook);
    const n = Math.hypot(...vector);
    if (!(n > 0)) throw new Error(`the direction at ${hook} (${from}) is zero`);
    return { unit: Float64Array.from(vector, (v) => v / n), from };
  });
  const r = await model.forward([ids], undefined, { reads: o.hooks.map((hook) => ({ hook, positions: 'all' as const })), readsOnly: true, edits: o.edits, editPositions: o.editPositions });
  const values = o.hooks.map((hook, h) => {
    const x = r.reads.get(hook)![0]!;
    const u = units[h]!.unit;
    return Array.from({ length: S }, (_, p) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[p * d + j]! * u[j]!;
      return s;
    });
  });
  const edited = o.edits?.length ? (o.editPositions === 'last' ? [S - 1] : Array.from({ length: S }, (_, p) => p)) : [];
  return { values, directionFrom: units.map((u) => u.from), editedPositions: edited };
}
