/**
 * Which layers matter for a behaviour: the change of the next-token distribution when the
 * behaviour's vector is added to the residual stream at the position just before each of its
 * spans (the paper's layer selection), computed two ways side by side:
 *
 *  - **exact patching**: run the model with `coefficient·u` added at that position and hook and
 *    measure the change; one batched pass per hook point over every position of the behaviour;
 *  - **a gradient-free estimate** from central finite differences along u at a small step h:
 *      logprob metric (log-probability of the token that follows): first order,
 *          Δ ≈ coefficient · (m(+h) − m(−h)) / 2h           (attribution patching, u·∇m, without a gradient)
 *      kl metric: KL(P_clean ‖ P_patched) has its minimum, and a zero gradient, at the clean run,
 *          so attribution patching of it is identically zero; the leading term is quadratic:
 *          Δ ≈ coefficient² · (KL(+h) + KL(−h)) / 2h²         (the Fisher quadratic form along u)
 *    Both differences have error O(h²) (tested against analytic derivatives).
 *
 * Every patched position of a chain sees the clean chain before it, so a pass needs only the one
 * token at that position, on top of the chain's clean KV cache cut to the tokens before it: rows of
 * different chains and positions are left-padded into one batch with an attention mask, and each
 * row's edit applies to its single new token. The clean distribution comes from the same batch
 * without edits, so a zero coefficient changes no logit at all (bit-identical).
 */
import { CancelledError } from '../generate';
import type { InstrumentedModel, KvState } from '../model';
import type { OutputValue } from '../ort/session';
import { BEHAVIOURS, type Behaviour, type Chain, type EffectMetric, type Span } from '../protocol/thinking';
import { spanTokenRange } from './vectors';

/** One patched position: `pos` indexes the chain's prompt + generated ids; `next` is the id after it. */
export interface PatchRow {
  chain: number;
  pos: number;
  next: number;
}

/** The position before each span of `category` (deduplicated per chain), in chain order. */
export function patchRows(chains: readonly Chain[], spans: readonly Span[], category: Behaviour): PatchRow[] {
  const index = new Map(chains.map((c, i) => [c.id, i]));
  const seen = new Set<string>();
  const rows: PatchRow[] = [];
  for (const s of spans) {
    if (s.category !== category) continue;
    const i = index.get(s.chain);
    if (i === undefined) continue;
    const c = chains[i]!;
    const r = spanTokenRange(c.offsets, s.start, s.end);
    if (!r) continue;
    const pos = c.prompt_ids.length + r[0] - 1;
    const key = `${i}:${pos}`;
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push({ chain: i, pos, next: c.ids[r[0]]! });
  }
  return rows.sort((a, b) => a.chain - b.chain || a.pos - b.pos);
}

/** log-softmax in float64. */
export function logSoftmax(z: Float32Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < z.length; i++) if (z[i]! > max) max = z[i]!;
  let s = 0;
  for (let i = 0; i < z.length; i++) s += Math.exp(z[i]! - max);
  const lse = max + Math.log(s);
  return Float64Array.from(z, (x) => x - lse);
}

/** KL(P ‖ Q) in nats from log-probabilities. */
export function klDivergence(logp: Float64Array, logq: Float64Array): number {
  let s = 0;
  for (let i = 0; i < logp.length; i++) {
    const p = Math.exp(logp[i]!);
    if (p > 0) s += p * (logp[i]! - logq[i]!);
  }
  return s;
}

/** Clean KV caches of whole chains (one pass each), kept for the passes that patch them. */
export class ChainKv {
  private readonly kv = new Map<number, KvState>();
  constructor(
    private readonly model: InstrumentedModel,
    private readonly chains: readonly Chain[],
  ) {}

  async get(i: number): Promise<KvState> {
    let kv = this.kv.get(i);
    if (!kv) {
      const c = this.chains[i]!;
      kv = (await this.model.forward([[...c.prompt_ids, ...c.ids]])).kv;
      this.kv.set(i, kv);
    }
    return kv;
  }

  /** Forgets chains not in `keep` (memory). */
  retain(keep: ReadonlySet<number>): void {
    for (const k of [...this.kv.keys()]) if (!keep.has(k)) this.kv.delete(k);
  }
}

/** The batch's KV: each row's chain cache cut to its first `pos` tokens, left-padded to the longest. */
export async function batchPast(rows: readonly PatchRow[], cache: ChainKv, kvCount: number): Promise<KvState> {
  const Pmax = Math.max(...rows.map((r) => r.pos));
  const kvs = await Promise.all(rows.map((r) => cache.get(r.chain)));
  const cut = (pick: (kv: KvState) => OutputValue[]) =>
    Array.from({ length: kvCount }, (_, i): OutputValue => {
      const [, heads, , hd] = pick(kvs[0]!)[i]!.dims as [number, number, number, number];
      const data = new Float32Array(rows.length * heads * Pmax * hd);
      rows.forEach((r, b) => {
        const src = pick(kvs[b]!)[i]!;
        const T = src.dims[2]!;
        for (let h = 0; h < heads; h++) {
          const from = (h * T) * hd;
          const to = ((b * heads + h) * Pmax + (Pmax - r.pos)) * hd;
          data.set(src.data.subarray(from, from + r.pos * hd), to);
        }
      });
      return { data, dims: [rows.length, heads, Pmax, hd] };
    });
  return {
    keys: cut((kv) => kv.keys),
    values: cut((kv) => kv.values),
    mask: rows.map((r) => [...new Array<number>(Pmax - r.pos).fill(0), ...new Array<number>(r.pos).fill(1)]),
    nextPos: rows.map((r) => r.pos),
  };
}

export interface EffectOptions {
  metric: EffectMetric;
  coefficient: number;
  fdStep: number;
  /** Rows per pass at most (1: one position at a time, the unbatched reference). */
  batchRows: number;
  /** Bytes of batched KV cache per pass at most (splits long batches). */
  batchBytes: number;
  signal?: AbortSignal;
  onPass?: () => void;
}

export interface CategoryEffects {
  rows: PatchRow[];
  /** exact[h][r]: the effect of adding coefficient·u at hook h, row r. */
  exact: Float64Array[];
  estimate: Float64Array[];
  passes: number;
}

/** Chunks of rows for one pass each: at most batchRows, and at most batchBytes of KV cache. */
export function chunkRows(rows: readonly PatchRow[], opts: Pick<EffectOptions, 'batchRows' | 'batchBytes'>, bytesPerPosition: number): PatchRow[][] {
  const out: PatchRow[][] = [];
  let cur: PatchRow[] = [];
  let maxPos = 0;
  for (const r of rows) {
    const nextMax = Math.max(maxPos, r.pos);
    if (cur.length && (cur.length >= opts.batchRows || (cur.length + 1) * nextMax * bytesPerPosition > opts.batchBytes)) {
      out.push(cur);
      cur = [];
      maxPos = 0;
    }
    cur.push(r);
    maxPos = Math.max(maxPos, r.pos);
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * Exact effects and their estimates of one behaviour's vectors (`vectors[h]` at `hooks[h]`) at
 * every position before its spans. Per chunk of rows: one clean pass, then three per hook point
 * (coefficient, +h, −h).
 */
export async function categoryEffects(
  model: InstrumentedModel,
  chains: readonly Chain[],
  cache: ChainKv,
  rows: readonly PatchRow[],
  hooks: readonly string[],
  vectors: readonly Float32Array[],
  opts: EffectOptions,
): Promise<CategoryEffects> {
  const { nKvHeads, headDim, count } = model.spec.kv;
  const bytesPerPosition = 2 * count * nKvHeads * headDim * 4;
  const exact = hooks.map(() => new Float64Array(rows.length));
  const estimate = hooks.map(() => new Float64Array(rows.length));
  let passes = 0;
  let done = 0;
  const scaled = (v: Float32Array, a: number) => Float32Array.from(v, (x) => a * x);
  for (const chunk of chunkRows(rows, opts, bytesPerPosition)) {
    if (opts.signal?.aborted) throw new CancelledError();
    cache.retain(new Set(chunk.map((r) => r.chain)));
    const past = await batchPast(chunk, cache, count);
    const tokens = chunk.map((r) => [[...chains[r.chain]!.prompt_ids, ...chains[r.chain]!.ids][r.pos]!]);
    const run = async (hook?: string, add?: Float32Array) => {
      const out = await model.forward(tokens, past, hook && add ? { edits: [{ hook, add }], editPositions: 'all' } : {});
      passes++;
      opts.onPass?.();
      return out.logits.map(logSoftmax);
    };
    const clean = await run();
    const metric = (lq: Float64Array, k: number) => (opts.metric === 'kl' ? klDivergence(clean[k]!, lq) : lq[chunk[k]!.next]! - clean[k]![chunk[k]!.next]!);
    for (const [h, hook] of hooks.entries()) {
      const u = vectors[h]!;
      const [at, plus, minus] = [await run(hook, scaled(u, opts.coefficient)), await run(hook, scaled(u, opts.fdStep)), await run(hook, scaled(u, -opts.fdStep))];
      chunk.forEach((_, k) => {
        const a = opts.coefficient;
        const step = opts.fdStep;
        exact[h]![done + k] = metric(at[k]!, k);
        estimate[h]![done + k] =
          opts.metric === 'kl'
            ? (a * a * (metric(plus[k]!, k) + metric(minus[k]!, k))) / (2 * step * step)
            : (a * (metric(plus[k]!, k) - metric(minus[k]!, k))) / (2 * step);
      });
    }
    done += chunk.length;
  }
  return { rows: [...rows], exact, estimate, passes };
}

/** Mean of |x| and its standard error. */
export function meanAbs(xs: Float64Array): { mean: number; se: number } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, se: NaN };
  let s = 0;
  for (const x of xs) s += Math.abs(x);
  const mean = s / n;
  let v = 0;
  for (const x of xs) v += (Math.abs(x) - mean) ** 2;
  return { mean, se: n > 1 ? Math.sqrt(v / (n - 1) / n) : 0 };
}

/** Ranks 1..n with ties sharing their average rank. */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => ({ x, i })).sort((a, b) => a.x - b.x);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]!.x === order[i]!.x) j++;
    for (let k = i; k <= j; k++) out[order[k]!.i] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Spearman's rank correlation (Pearson of the ranks), null when undefined (fewer than 2 values, or no spread). */
export function spearman(a: readonly number[], b: readonly number[]): number | null {
  if (a.length !== b.length || a.length < 2) return null;
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n;
  const mb = rb.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i]! - ma) * (rb[i]! - mb);
    saa += (ra[i]! - ma) ** 2;
    sbb += (rb[i]! - mb) ** 2;
  }
  return saa === 0 || sbb === 0 ? null : sab / Math.sqrt(saa * sbb);
}

/** Indices of the `k` largest values (ties: the earlier index first). */
export function topK(xs: readonly number[], k: number): number[] {
  return xs
    .map((x, i) => ({ x, i }))
    .filter((e) => Number.isFinite(e.x))
    .sort((a, b) => b.x - a.x || a.i - b.i)
    .slice(0, k)
    .map((e) => e.i);
}

/** Behaviours in BEHAVIOURS order among `cats`. */
export function orderedBehaviours(cats: Iterable<Behaviour>): Behaviour[] {
  const s = new Set(cats);
  return BEHAVIOURS.filter((b) => s.has(b));
}
