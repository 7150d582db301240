/**
 * Questions the real 260K-parameter TinyStories model (stories260K in ../shared/data) can read:
 * short stories with a two-option question, in the MMLU-Pro record format. The scores split them
 * into both subsets (> 0.5 reasoning).
 */
import * as fs from 'node:fs';

/** [story and question, options, answer, memory_reason_score] — scores split the set into both subsets. */
export const STORY_PROMPTS: [string, [string, string], 'A' | 'B', number][] = [
  ['Lily had a red ball. She went to the park with her mom. What did Lily have?', ['a red ball', 'a blue car'], 'A', 0.8],
  ['Tom saw a big dog. The dog was happy and wagged its tail. What did Tom see?', ['a cat', 'a big dog'], 'B', 0.2],
  ['Sue liked to bake cakes. One day she made a cake for her friend. What did Sue make?', ['a cake', 'a hat'], 'A', 0.7],
  ['Ben found a shiny rock in the garden. He showed it to his dad. Where did Ben find the rock?', ['in the sea', 'in the garden'], 'B', 0.3],
  ['Mia had a little bird. The bird could sing. What could the bird do?', ['sing', 'swim'], 'A', 0.9],
  ['Max wanted to play with his toy truck. He pushed it across the floor. What did Max play with?', ['a toy truck', 'a kite'], 'A', 0.1],
  ['The sun was hot. Anna drank cold water. What did Anna drink?', ['milk', 'cold water'], 'B', 0.6],
  ['Sam lost his hat in the wind. His sister helped him find it. What did Sam lose?', ['his shoe', 'his hat'], 'B', 0.4],
];

/** Writes them as a JSON dataset file. */
export function writeStoryQuestions(file: string): void {
  fs.writeFileSync(file, JSON.stringify(STORY_PROMPTS.map(([question, options, answer, score], i) => ({
    question_id: i, question, options, answer, answer_index: answer === 'A' ? 0 : 1, cot_content: '', category: 'story', src: 'layerlab-test', memory_reason_score: score,
  }))));
}
