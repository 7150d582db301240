/**
 * Annotators: what turns chains into behaviour spans. Three behind one interface:
 *
 *  - import: spans from any tool, as JSONL (checked against the chains: parseAnnotations);
 *  - rules:  the phrase rules of ./rules.ts;
 *  - model:  a chat model (./chat.ts: one LayerLab runs, or an OpenAI-compatible endpoint) asked,
 *            with the paper's category definitions, to mark up the chain in the paper's format
 *            `["category"]text["end-section"]`; the marked sections are found in the chain's
 *            text and become spans.
 *
 * Every annotator's spans pass the same checks as an imported file (checkOverlaps) before they
 * are written.
 */
import * as fs from 'node:fs';
import { DatasetError } from '../../datasets/jsonl';
import {
  BEHAVIOUR_DEFINITIONS,
  BEHAVIOURS,
  canonicalBehaviour,
  checkOverlaps,
  codePointAt16,
  codePointIndex,
  parseAnnotations,
  type AnnotatorKind,
  type Behaviour,
  type Chain,
  type FileSpan,
  type Span,
} from '../protocol/thinking';
import { ChatError, type ChatModel } from './chat';
import { ruleSpans, sentences } from './rules';

export interface AnnotateContext {
  /** Where each chain is in its file, for messages. */
  where(chain: Chain): string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  warn(message: string): void;
}

export interface Annotator {
  kind: AnnotatorKind;
  /** Recorded in the annotations header (no secrets). */
  describe(): Record<string, unknown>;
  annotate(chains: readonly Chain[], ctx: AnnotateContext): Promise<Span[]>;
}

export class RulesAnnotator implements Annotator {
  readonly kind = 'rules' as const;
  describe(): Record<string, unknown> {
    return { kind: 'rules', version: 1 };
  }
  async annotate(chains: readonly Chain[], ctx: AnnotateContext): Promise<Span[]> {
    const out = chains.flatMap((c) => ruleSpans(c.id, c.text));
    ctx.onProgress?.(chains.length, chains.length);
    return out;
  }
}

/** Spans from a JSONL file another tool wrote (header line optional), checked against the chains. */
export class ImportAnnotator implements Annotator {
  readonly kind = 'import' as const;
  constructor(private readonly file: string) {}
  describe(): Record<string, unknown> {
    return { kind: 'import', file: this.file };
  }
  async annotate(chains: readonly Chain[], ctx: AnnotateContext): Promise<Span[]> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      throw new DatasetError({ file: this.file }, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read it (${(e as Error).message})`, 'Check --import_file.');
    }
    const { spans } = parseAnnotations(text, this.file, new Map(chains.map((c) => [c.id, c.text])));
    ctx.onProgress?.(chains.length, chains.length);
    return spans.map(({ line: _line, ...s }) => s);
  }
}

// ---------------------------------------------------------------------------------------------
// The model annotator

/** The instruction the annotating model gets: the paper's task, with its category definitions. */
export function annotationPrompt(thinking: string): string {
  const defs = BEHAVIOURS.map((b, i) => `${i}. ${b} -> ${BEHAVIOUR_DEFINITIONS[b]}.`).join('\n');
  return [
    'Split the following reasoning chain of a language model into parts and label each part with the behaviour it shows.',
    'Write each part as ["label"]the exact text of the part["end-section"]. Split a sentence into several parts when it shows several behaviours.',
    '',
    'Labels:',
    defs,
    '',
    'The reasoning chain:',
    thinking,
    '',
    'Answer only with the labelled text, copying the text of each part exactly. Use only the labels above. Leave out text that fits no label.',
  ].join('\n');
}

const MARKER = /\["([^"\]]*)"\]/g;

export interface ParsedReply {
  /** Sections found in the text: [start, end) code points of `text`. */
  spans: { start: number; end: number; category: Behaviour }[];
  /** Sections whose text is not in the chain, labels that are not behaviours, overlaps dropped. */
  problems: string[];
}

/**
 * Finds the sections of a reply in `text` (the part of the chain that was annotated). Sections are
 * searched in order from the end of the previous one (the paper's format keeps the chain's order),
 * falling back to the first occurrence anywhere; a section overlapping one already placed (other
 * than on the same characters) is dropped, so the result always passes checkOverlaps.
 */
export function parseAnnotatedReply(reply: string, text: string): ParsedReply {
  const idx = codePointIndex(text);
  const problems: string[] = [];
  const spans: ParsedReply['spans'] = [];
  const markers = [...reply.matchAll(MARKER)];
  let cursor = 0;
  markers.forEach((m, i) => {
    const labels = m[1]!.split(',').map((l) => l.trim()).filter(Boolean);
    if (labels.some((l) => l.toLowerCase().replace(/[<>]/g, '') === 'end-section')) return;
    const from = m.index! + m[0].length;
    const to = i + 1 < markers.length ? markers[i + 1]!.index! : reply.length;
    const section = reply.slice(from, to).trim();
    if (!section) return;
    const categories = labels.map((l) => ({ l, b: canonicalBehaviour(l) }));
    for (const c of categories.filter((c) => !c.b)) problems.push(`label "${c.l}" is not a behaviour`);
    const known = [...new Set(categories.flatMap((c) => (c.b ? [c.b] : [])))];
    if (!known.length) return;
    let at = text.indexOf(section, cursor);
    if (at < 0) at = text.indexOf(section);
    if (at < 0) {
      problems.push(`section ${JSON.stringify(section.length > 50 ? section.slice(0, 50) + '…' : section)} is not in the chain`);
      return;
    }
    cursor = at + section.length;
    const start = codePointAt16(idx, at);
    const end = codePointAt16(idx, at + section.length);
    for (const category of known) {
      const clash = spans.find((s) => s.start < end && start < s.end && !(s.start === start && s.end === end && s.category !== category));
      if (clash) {
        problems.push(`section [${start}, ${end}) ${category} overlaps [${clash.start}, ${clash.end}) ${clash.category} and was dropped`);
        continue;
      }
      spans.push({ start, end, category });
    }
  });
  return { spans: spans.sort((a, b) => a.start - b.start || a.end - b.end), problems };
}

export interface ModelAnnotatorOptions {
  maxTokens: number;
  /**
   * Sentences per request (0: the whole chain in one, as the paper). A model with a short context
   * annotates a long chain piece by piece.
   */
  chunkSentences: number;
}

/** Offsets (UTF-16) of consecutive pieces of `text` holding `n` sentences each (the whole text for n = 0). */
export function chunksOf(text: string, n: number): [number, number][] {
  if (n <= 0) return [[0, text.length]];
  const s = sentences(text);
  const out: [number, number][] = [];
  for (let i = 0; i < s.length; i += n) out.push([s[i]![0], s[Math.min(s.length, i + n) - 1]![1]]);
  return out;
}

export class ModelAnnotator implements Annotator {
  readonly kind = 'model' as const;
  /** Every reply, for the header: what the model said is part of the provenance. */
  readonly replies: { chain: string; chunk: number; content: string; finishReason: string }[] = [];

  constructor(
    private readonly chat: ChatModel,
    private readonly opts: ModelAnnotatorOptions,
  ) {}

  describe(): Record<string, unknown> {
    return { kind: 'model', chat: this.chat.describe(), maxTokens: this.opts.maxTokens, chunkSentences: this.opts.chunkSentences };
  }

  async annotate(chains: readonly Chain[], ctx: AnnotateContext): Promise<Span[]> {
    const out: Span[] = [];
    let done = 0;
    for (const c of chains) {
      const idx = codePointIndex(c.text);
      const chunks = chunksOf(c.text, this.opts.chunkSentences);
      for (const [k, [from, to]] of chunks.entries()) {
        const piece = c.text.slice(from, to);
        let reply;
        try {
          reply = await this.chat.complete([{ role: 'user', content: annotationPrompt(piece) }], { maxTokens: this.opts.maxTokens, signal: ctx.signal });
        } catch (e) {
          if (e instanceof ChatError) {
            const hint = e.code === 'context_length_exceeded' ? ' (give --annotator_chunk_sentences N to send the chain in pieces)' : '';
            throw new ChatError(`${ctx.where(c)}: annotating chain ${c.id}${chunks.length > 1 ? `, piece ${k + 1} of ${chunks.length}` : ''}: ${e.message}${hint}`, e.code);
          }
          throw e;
        }
        this.replies.push({ chain: c.id, chunk: k, content: reply.content, finishReason: reply.finishReason });
        const parsed = parseAnnotatedReply(reply.content, piece);
        const base = codePointAt16(idx, from);
        for (const p of parsed.problems) ctx.warn(`${ctx.where(c)}: chain ${c.id}: ${p}`);
        if (reply.finishReason === 'length') ctx.warn(`${ctx.where(c)}: chain ${c.id}: the annotator's reply was cut at --annotator_max_tokens ${this.opts.maxTokens}`);
        for (const s of parsed.spans) out.push({ chain: c.id, start: base + s.start, end: base + s.end, category: s.category });
      }
      ctx.onProgress?.(++done, chains.length);
    }
    return out;
  }
}

/** The final check every annotator's spans pass (as an imported file's do), then chain order. */
export function checkedSpans(spans: readonly Span[], chains: readonly Chain[], source: string): Span[] {
  const order = new Map(chains.map((c, i) => [c.id, i]));
  const sorted = [...spans].sort((a, b) => order.get(a.chain)! - order.get(b.chain)! || a.start - b.start || a.end - b.end || BEHAVIOURS.indexOf(a.category) - BEHAVIOURS.indexOf(b.category));
  checkOverlaps(sorted.map((s, i): FileSpan => ({ ...s, line: i + 1 })), source);
  return sorted;
}
