/**
 * Annotations as the editor shows them, without the VS Code API (unit-tested as is): the chains
 * rendered as one read-only document (a heading per chain, then its text), the spans as ranges of
 * that document per behaviour, and the edits a quick fix makes to the annotations file (relabel
 * or remove one span line), re-checked against the chains before anything is written.
 */
import {
  BEHAVIOUR_DEFINITIONS,
  codePointIndex,
  parseAnnotations,
  parseChains,
  type Behaviour,
  type Chain,
  type FileSpan,
} from '../../runtime/protocol/thinking';

export interface SpanRange {
  /** UTF-16 offsets in the rendered document. */
  start: number;
  end: number;
  category: Behaviour;
  chain: string;
  /** 1-based line of the span in the annotations file. */
  line: number;
  /** The span's code-point offsets in its chain, to check an edit still finds it. */
  cpStart: number;
  cpEnd: number;
}

export interface AnnotatedDocument {
  text: string;
  ranges: SpanRange[];
}

/** `### <chain> · <category of its task>` then its text, one chain after another. */
export function renderAnnotated(chains: readonly Chain[], spans: readonly FileSpan[]): AnnotatedDocument {
  let text = '';
  const starts = new Map<string, { at: number; idx: Int32Array }>();
  for (const c of chains) {
    text += `### ${c.id}${c.category ? ` · ${c.category}` : ''}\n`;
    starts.set(c.id, { at: text.length, idx: codePointIndex(c.text) });
    text += `${c.text}\n\n`;
  }
  const ranges = spans.flatMap((s): SpanRange[] => {
    const st = starts.get(s.chain);
    if (!st) return [];
    return [{ start: st.at + st.idx[s.start]!, end: st.at + st.idx[s.end]!, category: s.category, chain: s.chain, line: s.line, cpStart: s.start, cpEnd: s.end }];
  });
  return { text, ranges };
}

/** The annotations and chains of a file pair, parsed and checked. */
export function loadAnnotated(annotationsText: string, annotationsFile: string, chainsText: string, chainsFile: string): { chains: Chain[]; spans: FileSpan[]; doc: AnnotatedDocument } {
  const { chains } = parseChains(chainsText, chainsFile);
  const { spans } = parseAnnotations(annotationsText, annotationsFile, new Map(chains.map((c) => [c.id, c.text])));
  return { chains, spans, doc: renderAnnotated(chains, spans) };
}

/** The chains file an annotations file names in its header line, if any. */
export function chainsFileOf(annotationsText: string): string | undefined {
  try {
    const h = JSON.parse(annotationsText.split('\n', 1)[0] ?? '') as { layerlab?: unknown; chains?: unknown };
    return h.layerlab === 'annotations' && typeof h.chains === 'string' ? h.chains : undefined;
  } catch {
    return undefined;
  }
}

export type SpanEdit = { kind: 'relabel'; category: Behaviour } | { kind: 'remove' };

/** The file changed since the editor showed it: the span is not on the line any more. */
export class StaleAnnotationError extends Error {}

/**
 * The annotations text with the span on `line` relabelled or removed. Refuses (before anything is
 * written) when that line no longer holds the span the editor showed, or when the result would
 * not pass the file's checks (a relabel onto a behaviour the same characters already carry).
 */
export function editAnnotations(text: string, file: string, chains: readonly Chain[], target: SpanRange, edit: SpanEdit): string {
  const lines = text.split('\n');
  const raw = lines[target.line - 1];
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(raw ?? '') as Record<string, unknown>;
  } catch {
    throw new StaleAnnotationError(`${file} changed since it was shown (line ${target.line} is not a span any more); reopen it`);
  }
  const chain = obj.chain ?? obj.chain_id;
  if (chain !== target.chain || obj.start !== target.cpStart || obj.end !== target.cpEnd) {
    throw new StaleAnnotationError(`${file} changed since it was shown (line ${target.line} holds another span now); reopen it`);
  }
  if (edit.kind === 'remove') lines.splice(target.line - 1, 1);
  else {
    // Written in LayerLab's spelling, whatever the line used.
    const { label: _l, ...rest } = obj;
    lines[target.line - 1] = JSON.stringify({ ...rest, category: edit.category });
  }
  const out = lines.join('\n');
  parseAnnotations(out, file, new Map(chains.map((c) => [c.id, c.text])));
  return out;
}

/** The hover text of a span. */
export function describeSpan(r: SpanRange, file: string): string {
  return `**${r.category}** — ${BEHAVIOUR_DEFINITIONS[r.category]}.\n\nchain \`${r.chain}\`, characters ${r.cpStart}–${r.cpEnd}, ${file}:${r.line}`;
}
