/**
 * huginn's tokenizer: the folder's tokenizer.json and chat template through the shared Hugging
 * Face path, plus what the seed's evaluation stops on. huginn writes a turn as
 *   <|begin_header|>role<|end_header|>\n\ncontent<|end_turn|>
 * (the first one after <|begin_text|>, the BOS), and the generation prompt is
 *   <|begin_header|>Huginn<|end_header|>\n\n
 */
import { loadHfTokenizer, type HfTokenizer, type LoadHfTokenizerOptions } from '../hf/tokenizer';

export const HUGINN_SPECIAL_TOKENS = Object.freeze({
  beginText: '<|begin_text|>',
  endText: '<|end_text|>',
  beginHeader: '<|begin_header|>',
  endHeader: '<|end_header|>',
  endTurn: '<|end_turn|>',
  pad: '<|pad|>',
});

/** The seed's stop strings: the model's end-of-text and end-of-turn markers. */
export const HUGINN_STOP_STRINGS: readonly string[] = [HUGINN_SPECIAL_TOKENS.endText, HUGINN_SPECIAL_TOKENS.endTurn];

export interface HuginnTokenizer extends HfTokenizer {
  stopStrings: string[];
}

/**
 * loadHfTokenizer plus the stop markers. Decoding drops special tokens, so a marker never shows
 * up in generated *text*; each marker that is a single token of this vocabulary is therefore also
 * added to `eosIds`, which is what actually stops generation (the original stops on the same ids:
 * its `_get_stops` lists end_text and end_turn). `stopStrings` still lists them, so runs record
 * the seed's choice and tokenizers that do decode them stop too.
 */
export function loadHuginnTokenizer(dir: string, opts: LoadHfTokenizerOptions = {}): HuginnTokenizer {
  const tok = loadHfTokenizer(dir, opts);
  const stopStrings: string[] = [];
  for (const s of HUGINN_STOP_STRINGS) {
    const ids = tok.encode(s);
    if (ids.length !== 1) continue; // not a special token of this vocabulary
    stopStrings.push(s);
    if (!tok.eosIds.includes(ids[0])) tok.eosIds.push(ids[0]);
  }
  return Object.assign(tok, { stopStrings });
}
