/**
 * Demo models (models/demo.ts) with bad numbers, for the hostile tests: one with a NaN weight,
 * and one whose weights are all finite but whose hidden states overflow to infinity, and then
 * NaN, only for prompts that contain one chosen byte — so that a cache over a dataset stops at
 * exactly the records holding it.
 */
import * as path from 'node:path';
import { DEMO_BYTE_OFFSET, DEMO_VOCAB_SIZE, writeDemoModel } from '../../models/demo';
import { writeSafetensors, type SafetensorsTensorInput } from '../../models/safetensors';

function rewrite(dir: string, edit: (byName: Map<string, SafetensorsTensorInput>) => void): string {
  const m = writeDemoModel(dir);
  const byName = new Map(m.tensors.map((t) => [t.name, t]));
  edit(byName);
  writeSafetensors(path.join(m.dir, 'model.safetensors'), m.tensors, { format: 'pt' });
  return m.dir;
}

/** The demo model with `value` (NaN, Infinity) at `index` of tensor `name`. */
export function writeNonFiniteWeightModel(dir: string, name: string, index: number, value = NaN): string {
  return rewrite(dir, (t) => {
    t.get(name)!.data[index] = value;
  });
}

/**
 * The demo model rewired so that a prompt containing `trigger` (a byte) overflows: dimension 0
 * of the residual stream is zero for every token but `trigger`, attention never writes to it,
 * and hidden unit 0 of block 0's MLP reads only that dimension and writes 1e37 to every output.
 * A prompt with the byte gets ±infinity at that position after block 0, and NaN everywhere after
 * it once block 1's attention mixes it in; every other prompt computes as before. Every weight
 * stays finite (the reader's check passes).
 */
export function writeOverflowModel(dir: string, trigger: number): string {
  return rewrite(dir, (t) => {
    const d = 64;
    const embed = t.get('model.embed_tokens.weight')!.data;
    for (let v = 0; v < DEMO_VOCAB_SIZE; v++) embed[v * d] = v === DEMO_BYTE_OFFSET + trigger ? 1 : 0;
    const wo = t.get('model.layers.0.self_attn.o_proj.weight')!.data; // [d, d]: row 0 writes dimension 0
    wo.fill(0, 0, d);
    const dFF = 128;
    for (const name of ['model.layers.0.mlp.gate_proj.weight', 'model.layers.0.mlp.up_proj.weight']) {
      const w = t.get(name)!.data; // [dFF, d]: row 0 is hidden unit 0
      w.fill(0, 0, d);
      w[0] = 10;
    }
    // Every other hidden unit must ignore dimension 0 too, or it leaks the trigger's magnitude.
    for (const name of ['model.layers.0.mlp.gate_proj.weight', 'model.layers.0.mlp.up_proj.weight']) {
      const w = t.get(name)!.data;
      for (let u = 1; u < dFF; u++) w[u * d] = 0;
    }
    const down = t.get('model.layers.0.mlp.down_proj.weight')!.data; // [d, dFF]: column 0 reads unit 0
    for (let o = 0; o < d; o++) down[o * dFF] = 1e37;
  });
}
