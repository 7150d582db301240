/**
 * The files of the reasoning-behaviour workflow (the seed's postponed plan, after Venhoff et al.,
 * "Understanding Reasoning in Thinking Language Models via Steering Vectors"), defined once and
 * read by the runtime, the extension (annotation decorations, trees) and the webviews (charts):
 *
 *   task set      JSON array or JSONL of {id, category, prompt} (datasets/tasks.ts)
 *   chains        <name>.chains.jsonl, one greedy chain per line, + <name>.chains.json provenance
 *   annotations   JSONL of spans {chain, start, end, category[, text]}; LayerLab's own files begin
 *                 with one header line {"layerlab": "annotations", …} (files from other tools may not)
 *   vectors       <name>.vectors.safetensors + <name>.vectors.json statistics (like directions)
 *   effects       <name>.effects.json: per layer and behaviour, exact patching and its estimate
 *   steering      <name>.steering.json: ± vector, random and baseline generations, re-annotated
 *
 * **Offsets are Unicode code points** (what Python's `str` indexes), half-open `[start, end)`, in a
 * chain's generated `text`: a span written by a Python tool means the same characters here. JS
 * strings index UTF-16 units, so every conversion goes through `codePointIndex`.
 *
 * No imports from vscode, the DOM or Node here (scripts/check-imports.mjs).
 */
import { z } from 'zod';
import { DatasetError, parseJsonl } from '../../datasets/jsonl';

// ---------------------------------------------------------------------------------------------
// Behaviours

/**
 * The six behaviour categories of the paper, in its order, with its definitions (reworded). The
 * model annotator shows these definitions to the annotating model; the rules annotator
 * (runtime/thinking/rules.ts) approximates them with phrases.
 */
export const BEHAVIOURS = ['initializing', 'deduction', 'adding-knowledge', 'example-testing', 'uncertainty-estimation', 'backtracking'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

export const BEHAVIOUR_DEFINITIONS: Readonly<Record<Behaviour, string>> = {
  initializing: 'the model restates the task in its own words and states its first thoughts about it',
  deduction: 'the model derives a next step or a conclusion from its current approach and assumptions',
  'adding-knowledge': 'the model brings in facts or knowledge it recalls, beyond what the task states',
  'example-testing': 'the model makes up concrete examples or cases to test its current approach',
  'uncertainty-estimation': 'the model states its own uncertainty or confidence about what it has done',
  backtracking: 'the model abandons or revises its approach and tries another one',
};

/**
 * The VS Code theme colour of each behaviour (decorations, chart series): the workbench's chart
 * palette, so light, dark and high-contrast themes each get colours made for them.
 */
export const BEHAVIOUR_COLORS: Readonly<Record<Behaviour, string>> = {
  initializing: 'charts.blue',
  deduction: 'charts.green',
  'adding-knowledge': 'charts.purple',
  'example-testing': 'charts.yellow',
  'uncertainty-estimation': 'charts.orange',
  backtracking: 'charts.red',
};

/** A behaviour name as other tools spell it (`Uncertainty estimation`, `example_testing`), or undefined. */
export function canonicalBehaviour(name: string): Behaviour | undefined {
  const k = name.trim().toLowerCase().replace(/[\s_]+/g, '-');
  return (BEHAVIOURS as readonly string[]).includes(k) ? (k as Behaviour) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Code points

/**
 * `idx[k]` is the UTF-16 index of code point `k` of `s`, for k = 0..n (idx[n] = s.length): the
 * one conversion between the files' code-point offsets and JS string indices.
 */
export function codePointIndex(s: string): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; ) {
    out.push(i);
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  out.push(s.length);
  return Int32Array.from(out);
}

/** Number of code points of `s`. */
export function codePointLength(s: string): number {
  return codePointIndex(s).length - 1;
}

/** The code points [start, end) of `s`. */
export function sliceCodePoints(s: string, start: number, end: number, idx = codePointIndex(s)): string {
  return s.slice(idx[start], idx[end]);
}

/** The code-point offset of UTF-16 index `u` (rounded down to the code point holding it). */
export function codePointAt16(idx: Int32Array, u: number): number {
  let lo = 0;
  let hi = idx.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (idx[mid] <= u) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Chains

export const STOP_REASONS = ['eos', 'stop-string', 'max-new-tokens', 'context-full'] as const;

/** One greedy chain: the prompt as the model saw it, the generated ids, their text and offsets. */
export const chainSchema = z.object({
  id: z.string().min(1),
  task: z.string().min(1),
  category: z.string(),
  /** The full prompt text (chat template applied). */
  prompt: z.string(),
  prompt_ids: z.array(z.number().int().nonnegative()).min(1),
  /** Generated ids (the EOS that stopped it included). */
  ids: z.array(z.number().int().nonnegative()),
  /** The generated text, thinking tags kept, cut before a stop string. */
  text: z.string(),
  /**
   * `[start, end)` code points of `text` per generated id. A byte-level token that holds only
   * part of a character is empty (start = end) and the token completing it covers the character;
   * ids past a stop string (or the EOS) are empty at the end of the text.
   */
  offsets: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
  stop_reason: z.enum(STOP_REASONS),
});
export type Chain = z.infer<typeof chainSchema>;

/** `<name>.chains.json`: how a chains file was made. */
export const chainsProvenanceSchema = z.object({
  format: z.literal('layerlab-chains'),
  version: z.literal(1),
  /** sha256 of the chains JSONL bytes: the pair belongs together. */
  chains_hash: z.string(),
  count: z.number().int(),
  model: z.object({ path: z.string(), hash: z.string(), tokenizer: z.string(), options: z.record(z.unknown()) }),
  tasks: z.object({ path: z.string(), hash: z.string(), ids: z.array(z.string()) }),
  /** `chat` (the tokenizer's chat template, one user turn) or `plain` (the task prompt as text after BOS). */
  template: z.enum(['chat', 'plain']),
  max_new_tokens: z.number().int(),
  stop: z.array(z.string()),
  batch_size: z.number().int(),
  argv: z.array(z.string()),
  layerlab_version: z.string(),
  created: z.string(),
});
export type ChainsProvenance = z.infer<typeof chainsProvenanceSchema>;

/**
 * Structural checks of one chain (lengths, order, ranges), naming the line: offsets that cannot
 * belong to the text. Whether they are the tokenizer's offsets is checked where a tokenizer is
 * (runtime/thinking/chains.ts).
 */
export function checkChainShape(c: Chain, file: string, line: number): void {
  const fail = (field: string, problem: string) => {
    throw new DatasetError({ file, line, field }, `chain ${c.id}: ${problem}`, 'Regenerate the chains with layerlab generate-chains, or fix that line.');
  };
  if (c.offsets.length !== c.ids.length) fail('offsets', `${c.offsets.length} offsets for ${c.ids.length} ids; every generated id has one [start, end) pair`);
  const n = codePointLength(c.text);
  let prev = 0;
  c.offsets.forEach(([s, e], i) => {
    if (s !== prev) fail('offsets', `token ${i} starts at character ${s}, but the token before it ends at ${prev} (tokens must tile the text)`);
    if (e < s) fail('offsets', `token ${i} ends (${e}) before it starts (${s})`);
    if (e > n) fail('offsets', `token ${i} ends at character ${e}, past the end of the text (${n} characters)`);
    prev = e;
  });
  if (prev !== n) fail('offsets', `the tokens cover ${prev} characters, but the text has ${n}`);
}

/** Reads a chains JSONL text: every line a chain, ids unique, shapes checked. */
export function parseChains(text: string, file: string): { chains: Chain[]; lines: number[] } {
  const { rows, lines } = parseJsonl(file, text);
  const seen = new Map<string, number>();
  const chains = rows.map((row, i) => {
    const r = chainSchema.safeParse(row);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new DatasetError({ file, index: i, line: lines[i], field: issue.path.join('.') || undefined }, `is not a chain (${issue.message})`,
        'A chains file holds one chain per line as layerlab generate-chains writes it.');
    }
    const c = r.data;
    const before = seen.get(c.id);
    if (before !== undefined) throw new DatasetError({ file, line: lines[i], field: 'id' }, `chain id "${c.id}" is used again (first on line ${before})`, 'Chain ids must be unique.');
    seen.set(c.id, lines[i]!);
    checkChainShape(c, file, lines[i]!);
    return c;
  });
  return { chains, lines };
}

// ---------------------------------------------------------------------------------------------
// Annotations

/** A behaviour span of a chain's text, in code points. */
export interface Span {
  chain: string;
  start: number;
  end: number;
  category: Behaviour;
}

/** A span as read from a file: with the line it came from, for messages and edits. */
export interface FileSpan extends Span {
  line: number;
}

export const ANNOTATORS = ['import', 'rules', 'model'] as const;
export type AnnotatorKind = (typeof ANNOTATORS)[number];

/** The first line of an annotations file LayerLab writes. */
export const annotationsHeaderSchema = z.object({
  layerlab: z.literal('annotations'),
  version: z.literal(1),
  chains: z.string(),
  chains_hash: z.string(),
  annotator: z.object({ kind: z.enum(ANNOTATORS) }).passthrough(),
  created: z.string(),
});
export type AnnotationsHeader = z.infer<typeof annotationsHeaderSchema>;

/** What a span line may look like: LayerLab's spelling, or the common ones of other tools. */
const spanLineSchema = z
  .object({
    chain: z.string().min(1).optional(),
    chain_id: z.string().min(1).optional(),
    start: z.number().int(),
    end: z.number().int(),
    category: z.string().optional(),
    label: z.string().optional(),
    text: z.string().optional(),
  })
  .passthrough();

/** The text of the chains an annotations file refers to, by chain id. */
export type ChainTexts = ReadonlyMap<string, string>;

export interface ParsedAnnotations {
  header?: AnnotationsHeader;
  spans: FileSpan[];
}

/**
 * Reads an annotations JSONL text and checks every span against the chains: the chain exists, the
 * span lies inside its text, the category is a behaviour, an optional `text` equals the
 * characters it covers, and spans of a chain never overlap — except that the same characters may
 * carry several different behaviours (a sentence doing two things). Every error names the line.
 */
export function parseAnnotations(text: string, file: string, chains: ChainTexts): ParsedAnnotations {
  const { rows, lines } = parseJsonl(file, text);
  let header: AnnotationsHeader | undefined;
  const spans: FileSpan[] = [];
  const indexOf = new Map<string, Int32Array>();
  rows.forEach((row, i) => {
    const line = lines[i]!;
    const where = (field?: string) => ({ file, line, ...(field ? { field } : {}) });
    if (i === 0 && row && typeof row === 'object' && 'layerlab' in row) {
      const h = annotationsHeaderSchema.safeParse(row);
      if (!h.success) throw new DatasetError(where(h.error.issues[0]!.path.join('.')), `is not a LayerLab annotations header (${h.error.issues[0]!.message})`, 'Remove the line or rewrite it as layerlab annotate does.');
      header = h.data;
      return;
    }
    const r = spanLineSchema.safeParse(row);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new DatasetError(where(issue.path.join('.') || undefined), `is not a span (${issue.message})`, 'Each line is {"chain": ID, "start": N, "end": N, "category": NAME}, offsets in code points.');
    }
    const s = r.data;
    const chain = s.chain ?? s.chain_id;
    if (chain === undefined) throw new DatasetError(where('chain'), 'names no chain', 'Give the chain id as "chain" (or "chain_id").');
    const rawCategory = s.category ?? s.label;
    if (rawCategory === undefined) throw new DatasetError(where('category'), 'names no category', `Give one of ${BEHAVIOURS.join(', ')} as "category" (or "label").`);
    const category = canonicalBehaviour(rawCategory);
    if (!category) throw new DatasetError(where('category'), `"${rawCategory}" is not a behaviour`, `Use one of ${BEHAVIOURS.join(', ')}.`);
    const chainText = chains.get(chain);
    if (chainText === undefined) throw new DatasetError(where('chain'), `chain "${chain}" is not in the chains file`, 'Annotate the chains file the spans were made for.');
    let idx = indexOf.get(chain);
    if (!idx) indexOf.set(chain, (idx = codePointIndex(chainText)));
    const n = idx.length - 1;
    if (s.start < 0 || s.end > n || s.start >= s.end) {
      throw new DatasetError(where(s.start < 0 || s.start >= s.end ? 'start' : 'end'), `span [${s.start}, ${s.end}) is out of range: chain "${chain}" has ${n} characters and a span needs 0 ≤ start < end ≤ ${n}`,
        'Offsets are code points of the chain\'s text, end exclusive.');
    }
    if (s.text !== undefined) {
      const actual = sliceCodePoints(chainText, s.start, s.end, idx);
      if (actual !== s.text) {
        throw new DatasetError(where('text'), `span [${s.start}, ${s.end}) of chain "${chain}" covers ${JSON.stringify(clip(actual))}, not the ${JSON.stringify(clip(s.text))} the line says`,
          'The offsets do not match the text: offsets are code points (not bytes or UTF-16 units) of the chain\'s generated text.');
      }
    }
    spans.push({ chain, start: s.start, end: s.end, category, line });
  });
  checkOverlaps(spans, file);
  return { header, spans };
}

function clip(s: string, n = 60): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Spans of one chain may share exactly the same characters with different behaviours; no other overlap. */
export function checkOverlaps(spans: readonly FileSpan[], file: string): void {
  const byChain = new Map<string, FileSpan[]>();
  for (const s of spans) byChain.set(s.chain, [...(byChain.get(s.chain) ?? []), s]);
  for (const list of byChain.values()) {
    const sorted = [...list].sort((a, b) => a.start - b.start || a.end - b.end);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length && sorted[j]!.start < sorted[i]!.end; j++) {
        const a = sorted[i]!;
        const b = sorted[j]!;
        const [first, second] = a.line < b.line ? [a, b] : [b, a];
        if (a.start === b.start && a.end === b.end) {
          if (a.category !== b.category) continue;
          throw new DatasetError({ file, line: second.line }, `span [${b.start}, ${b.end}) of chain "${b.chain}" repeats the ${b.category} span of line ${first.line}`, 'Delete one of the two lines.');
        }
        throw new DatasetError({ file, line: second.line },
          `span [${second.start}, ${second.end}) ${second.category} of chain "${b.chain}" overlaps span [${first.start}, ${first.end}) ${first.category} of line ${first.line}`,
          'Spans of a chain must not overlap, except that the very same characters may carry several behaviours; split or merge them.');
      }
    }
  }
}

/** The annotations file LayerLab writes: the header, then one span per line in chain order. */
export function formatAnnotations(header: AnnotationsHeader, spans: readonly Span[], chains: ChainTexts): string {
  const lines = [JSON.stringify(header)];
  for (const s of spans) {
    const t = chains.get(s.chain);
    lines.push(JSON.stringify({ chain: s.chain, start: s.start, end: s.end, category: s.category, ...(t !== undefined ? { text: sliceCodePoints(t, s.start, s.end) } : {}) }));
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Candidate vectors

export const vectorStatsFileSchema = z.object({
  format: z.literal('layerlab-behaviour-vectors'),
  version: z.literal(1),
  /** Shared with the safetensors file's metadata: the pair was written together. */
  commit: z.string(),
  vectorsFile: z.string(),
  chains: z.object({ path: z.string(), hash: z.string(), count: z.number().int() }),
  annotations: z.object({ path: z.string(), hash: z.string() }),
  model: z.object({ path: z.string(), hash: z.string() }),
  hooks: z.array(z.string()),
  /** The mean every vector has subtracted: over every chain, per chain over its generated tokens. */
  meanNorms: z.array(z.number()),
  categories: z.array(
    z.object({
      category: z.enum(BEHAVIOURS),
      /** Chains with at least one span of the category (|D+|). */
      chains: z.number().int(),
      spans: z.number().int(),
      /** Token positions averaged (each span's tokens and the one before it). */
      tokens: z.number().int(),
      /** ‖u‖ per hook (parallel to hooks). */
      norms: z.array(z.number()),
    }),
  ),
  /** cosine[h][i][j] between the vectors of categories i and j at hook h (order of `categories`). */
  cosine: z.array(z.array(z.array(z.number().nullable()))),
  argv: z.array(z.string()),
  layerlab_version: z.string(),
  created: z.string(),
});
export type VectorStatsFile = z.infer<typeof vectorStatsFileSchema>;

// ---------------------------------------------------------------------------------------------
// Layer effects (exact patching and its gradient-free estimate)

export const EFFECT_METRICS = ['kl', 'logprob'] as const;
export type EffectMetric = (typeof EFFECT_METRICS)[number];

const effectSummarySchema = z.object({
  /** Mean |effect| over the positions, per hook (parallel to the file's hooks). */
  mean: z.array(z.number()),
  /** Standard error of that mean. */
  se: z.array(z.number()),
});

export const effectsFileSchema = z.object({
  format: z.literal('layerlab-layer-effects'),
  version: z.literal(1),
  vectorsFile: z.string(),
  chains: z.object({ path: z.string(), hash: z.string() }),
  annotations: z.object({ path: z.string(), hash: z.string() }),
  model: z.object({ path: z.string(), hash: z.string() }),
  /**
   * kl: KL(P_clean ‖ P_patched) of the next-token distribution (nats); logprob: the change of
   * the log-probability of the token that actually follows.
   */
  metric: z.enum(EFFECT_METRICS),
  /** The exact patch adds coefficient·u at the position before each span. */
  coefficient: z.number(),
  /** The finite-difference step h (the estimate probes ±h·u). */
  fdStep: z.number(),
  hooks: z.array(z.string()),
  blocks: z.array(z.number().int()),
  categories: z.array(
    z.object({
      category: z.enum(BEHAVIOURS),
      /** Positions patched (one per span: the token before it). */
      positions: z.number().int(),
      chains: z.number().int(),
      exact: effectSummarySchema,
      estimate: effectSummarySchema,
      /** Spearman rank correlation of exact and estimate over the hooks (null with < 2 hooks or ties only). */
      spearman: z.number().nullable(),
      /** Hooks chosen for steering: the largest exact mean |effect| (indices into hooks). */
      selected: z.array(z.number().int()),
    }),
  ),
  timing: z.object({
    passes: z.number().int(),
    rows: z.number().int(),
    seconds: z.number(),
    /** (hooks × positions) patched per second, exact and estimate together. */
    patchesPerSecond: z.number(),
  }),
  argv: z.array(z.string()),
  layerlab_version: z.string(),
  created: z.string(),
});
export type EffectsFile = z.infer<typeof effectsFileSchema>;

// ---------------------------------------------------------------------------------------------
// Steering evaluation

export const STEER_KINDS = ['baseline', 'vector', 'random'] as const;

export const steerConditionSchema = z.object({
  /** `baseline`, `backtracking +1`, `backtracking -1`, `backtracking random +1`, … */
  id: z.string(),
  kind: z.enum(STEER_KINDS),
  /** The behaviour whose vector (or whose vector's norms, for random) is added; null for baseline. */
  category: z.enum(BEHAVIOURS).nullable(),
  /** +1 or −1 (0 for baseline). */
  sign: z.number().int(),
  /** Hooks steered, each getting coefficient / hooks.length · u. */
  hooks: z.array(z.string()),
  coefficient: z.number(),
});
export type SteerCondition = z.infer<typeof steerConditionSchema>;

/** A proportion of tokens with its Wilson 95% interval (tokens are counted as if independent). */
export const fractionSchema = z.object({
  tokens: z.number().int(),
  total: z.number().int(),
  fraction: z.number(),
  ci95: z.tuple([z.number(), z.number()]),
});
export type Fraction = z.infer<typeof fractionSchema>;

export const steerChainSchema = z.object({
  task: z.string(),
  text: z.string(),
  ids: z.array(z.number().int()),
  offsets: z.array(z.tuple([z.number().int(), z.number().int()])),
  spans: z.array(z.object({ start: z.number().int(), end: z.number().int(), category: z.enum(BEHAVIOURS) })),
});
export type SteerChain = z.infer<typeof steerChainSchema>;

export const steeringFileSchema = z.object({
  format: z.literal('layerlab-steering'),
  version: z.literal(1),
  complete: z.boolean(),
  vectorsFile: z.string(),
  effectsFile: z.string().nullable(),
  model: z.object({ path: z.string(), hash: z.string() }),
  tasks: z.object({ path: z.string(), hash: z.string(), ids: z.array(z.string()), heldOutFrom: z.string().nullable() }),
  annotator: z.object({ kind: z.enum(ANNOTATORS) }).passthrough(),
  template: z.enum(['chat', 'plain']),
  maxNewTokens: z.number().int(),
  randomSeed: z.number().int(),
  conditions: z.array(
    steerConditionSchema.extend({
      chains: z.array(steerChainSchema),
      /** Fraction of generated tokens inside spans of each behaviour. */
      fractions: z.record(z.enum(BEHAVIOURS), fractionSchema),
    }),
  ),
  argv: z.array(z.string()),
  layerlab_version: z.string(),
  created: z.string(),
});
export type SteeringFile = z.infer<typeof steeringFileSchema>;

/** Which thinking-workflow file a JSON text is, from its `format` (undefined: none of them). */
export function thinkingFileKind(text: string): 'vectors' | 'effects' | 'steering' | 'chains' | undefined {
  const m = /"format"\s*:\s*"(layerlab-[a-z-]+)"/.exec(text.slice(0, 2000));
  switch (m?.[1]) {
    case 'layerlab-behaviour-vectors':
      return 'vectors';
    case 'layerlab-layer-effects':
      return 'effects';
    case 'layerlab-steering':
      return 'steering';
    case 'layerlab-chains':
      return 'chains';
    default:
      return undefined;
  }
}

/** `<dir>/<name>.chains.json` (provenance) and `<dir>/<name>.annotations.<annotator>.jsonl` beside `<dir>/<name>.chains.jsonl`. */
export function chainsPaths(chainsFile: string): { provenance: string; annotations: (annotator: AnnotatorKind) => string } {
  const base = chainsFile.replace(/\.chains\.jsonl$/, '').replace(/\.jsonl$/, '');
  return { provenance: `${base}.chains.json`, annotations: (a) => `${base}.annotations.${a}.jsonl` };
}

/**
 * What is computed from one annotations file, beside it: `<annotations>.vectors.safetensors`
 * and `.vectors.json`, then `<annotations>.effects.json` and `<annotations>.steering.json`, so
 * vectors from two annotators of the same chains never overwrite each other.
 */
export function annotationPaths(annotationsFile: string): { vectors: string; vectorStats: string; effects: string; steering: string } {
  const base = annotationsFile.replace(/\.jsonl$/, '');
  return { vectors: `${base}.vectors.safetensors`, vectorStats: `${base}.vectors.json`, effects: `${base}.effects.json`, steering: `${base}.steering.json` };
}
