// Items for the planted model (models/planted.ts): each question holds exactly one sign
// character between two invented words, e.g. "kalo + ribe". Items with '+' are labelled
// reasoning and answer (A); items with '-' are labelled memorization and answer (B). The labels
// only name the two groups the planted direction separates; the planted model answers from the
// sign alone.

import type { MmluProRow } from './demo';
import { mulberry32 } from '../models/common/prng';

const SYLLABLE_CONSONANTS = 'bdfgklmnprstvz';
const SYLLABLE_VOWELS = 'aeiou';

export function plantedRows(n: number, seed = 0): MmluProRow[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  const rand = mulberry32(seed);
  const syllable = () => SYLLABLE_CONSONANTS[Math.floor(rand() * SYLLABLE_CONSONANTS.length)]! + SYLLABLE_VOWELS[Math.floor(rand() * SYLLABLE_VOWELS.length)]!;
  const word = () => Array.from({ length: 1 + Math.floor(rand() * 3) }, syllable).join('');
  return Array.from({ length: n }, (_, i) => {
    // Alternating signs keep every prefix balanced.
    const plus = i % 2 === 0;
    return {
      question_id: i, question: `${word()} ${plus ? '+' : '-'} ${word()}`, options: ['plus', 'minus'], answer: plus ? 'A' : 'B',
      answer_index: plus ? 0 : 1, cot_content: '', category: 'other', src: 'layerlab-planted', memory_reason_score: plus ? 0.9 : 0.1,
    };
  });
}
