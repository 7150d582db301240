/**
 * Where each token of a prompt sits in its text: the decoded text of the ids, each token's piece
 * and its [start, end) character range in that text, found by decoding growing prefixes. A piece
 * that completes a character begun by earlier byte tokens owns the whole character (the earlier
 * ones get an empty range), and a tokenizer's dummy-prefix space after BOS is nobody's.
 */
import type { Tokenizer } from '../../models/checkpoint';
import type { TokenSpan } from '../protocol/probe';

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** The decoded text of `ids` and every token's span in it. */
export function tokenSpans(tokenizer: Tokenizer, ids: readonly number[]): { text: string; spans: TokenSpan[] } {
  const text = tokenizer.decode([...ids]);
  const spans: TokenSpan[] = [];
  let start = 0;
  for (let i = 0; i < ids.length; i++) {
    // The part of text this prefix of tokens has decoded for certain: a prefix ending inside a
    // multi-byte character decodes to a replacement character, which is not a prefix of text.
    const end = i === ids.length - 1 ? text.length : Math.max(start, commonPrefixLength(tokenizer.decode(ids.slice(0, i + 1)), text));
    spans.push({ id: ids[i]!, piece: tokenizer.tokenText(ids[i]!), start, end });
    start = end;
  }
  return { text, spans };
}
