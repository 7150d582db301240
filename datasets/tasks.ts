/**
 * Task sets of the reasoning-behaviour workflow: records `{id, category, prompt}` in a JSON array
 * or JSONL file, as the paper's 300 tasks in 10 categories. The reader names the file, record,
 * line and field of any problem; ids must be unique (chains, annotations and held-out splits
 * refer to tasks by id).
 */
import { DatasetError } from './jsonl';
import { readTable } from './read';
import { shuffledIndices } from './sample';

export interface Task {
  id: string;
  category: string;
  prompt: string;
}

export interface TaskSet {
  file: string;
  /** sha256 of the file bytes. */
  contentHash: string;
  tasks: Task[];
}

const HINT = 'A task set holds records {"id": "...", "category": "...", "prompt": "..."}, one per JSONL line or in a JSON array.';

export async function readTaskSet(file: string): Promise<TaskSet> {
  const table = await readTable(file);
  const seen = new Map<string, number>();
  const tasks = table.rows.map((row, index): Task => {
    const line = table.lines?.[index];
    const where = (field?: string) => ({ file, index, ...(line !== undefined ? { line } : {}), ...(field ? { field } : {}) });
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new DatasetError(where(), 'is not an object', HINT);
    const r = row as Record<string, unknown>;
    const text = (field: 'id' | 'category' | 'prompt'): string => {
      const v = r[field];
      // Numeric ids are common in generated task sets; they name the same task as their text.
      if (field === 'id' && typeof v === 'number' && Number.isInteger(v)) return String(v);
      if (typeof v !== 'string') throw new DatasetError(where(field), v === undefined ? 'is missing' : `must be text, got ${Array.isArray(v) ? 'an array' : typeof v}`, HINT);
      if (v.trim() === '') throw new DatasetError(where(field), 'is empty', HINT);
      return v;
    };
    const task = { id: text('id'), category: text('category'), prompt: text('prompt') };
    const first = seen.get(task.id);
    if (first !== undefined) throw new DatasetError(where('id'), `id "${task.id}" is used again (first by record ${first})`, 'Task ids must be unique.');
    seen.set(task.id, index);
    return task;
  });
  if (tasks.length === 0) throw new DatasetError({ file }, 'holds no tasks', HINT);
  return { file: table.file, contentHash: table.contentHash, tasks };
}

/**
 * Tasks not among `exclude` (the ones chains were generated from), `n` of them drawn with the
 * seeded shuffle every LayerLab sample uses; fewer when fewer are left.
 */
export function heldOutTasks(tasks: readonly Task[], exclude: ReadonlySet<string>, n: number, seed: number): Task[] {
  const left = tasks.filter((t) => !exclude.has(t.id));
  return shuffledIndices(left.length, seed, Math.min(n, left.length))
    .sort((a, b) => a - b)
    .map((i) => left[i]!);
}

/**
 * A small authored task set in the paper's ten categories (Table 1), four tasks each, written for
 * LayerLab: short reasoning problems a thinking model works through in a few hundred tokens.
 * `layerlab thinking-demo` writes it to the datasets folder; it is ordinary data otherwise.
 */
export const AUTHORED_TASKS: readonly Task[] = [
  ['math-1', 'mathematical logic', 'A farmer has 17 sheep. All but 9 run away. How many sheep does the farmer have left?'],
  ['math-2', 'mathematical logic', 'What is the smallest positive integer that leaves remainder 1 when divided by 2, 3, 4, 5 and 6?'],
  ['math-3', 'mathematical logic', 'If 5 machines make 5 widgets in 5 minutes, how long do 100 machines take to make 100 widgets?'],
  ['math-4', 'mathematical logic', 'Is the sum of two odd numbers always even? Explain why.'],
  ['spatial-1', 'spatial reasoning', 'You face north, turn right, turn right again, then turn left. Which way do you face?'],
  ['spatial-2', 'spatial reasoning', 'A cube painted red is cut into 27 equal small cubes. How many small cubes have exactly two red faces?'],
  ['spatial-3', 'spatial reasoning', 'Looking at a clock in a mirror, the hands seem to show 3:00. What time is it really?'],
  ['spatial-4', 'spatial reasoning', 'How many squares of any size are on a 3 by 3 grid of squares?'],
  ['verbal-1', 'verbal logic', 'All bloops are razzies and all razzies are lazzies. Are all bloops lazzies?'],
  ['verbal-2', 'verbal logic', 'Tom is taller than Ann. Ann is taller than Ben. Who is the shortest?'],
  ['verbal-3', 'verbal logic', 'If it rains, the grass is wet. The grass is wet. Did it rain?'],
  ['verbal-4', 'verbal logic', 'Some cats are black. Some black things are cars. Are some cats cars?'],
  ['pattern-1', 'pattern recognition', 'What comes next: 2, 6, 12, 20, 30, ...?'],
  ['pattern-2', 'pattern recognition', 'What comes next: J, F, M, A, M, J, ...?'],
  ['pattern-3', 'pattern recognition', 'What comes next: 1, 1, 2, 3, 5, 8, ...?'],
  ['pattern-4', 'pattern recognition', 'Which word does not belong: apple, banana, carrot, cherry?'],
  ['lateral-1', 'lateral thinking', 'A man pushes his car to a hotel and tells the owner he is bankrupt. Why?'],
  ['lateral-2', 'lateral thinking', 'What can you hold in your right hand but never in your left hand?'],
  ['lateral-3', 'lateral thinking', 'A woman shoots her husband, holds him under water, then hangs him. Then they go out to dinner. How?'],
  ['lateral-4', 'lateral thinking', 'What has keys but cannot open any door?'],
  ['causal-1', 'causal reasoning', 'Ice cream sales and drownings both rise in summer. Does ice cream cause drowning?'],
  ['causal-2', 'causal reasoning', 'A plant by the window grows toward the glass. What causes this?'],
  ['causal-3', 'causal reasoning', 'After a town builds a new road, traffic on the old road gets worse. How can that happen?'],
  ['causal-4', 'causal reasoning', 'Why does a metal spoon feel colder than a wooden spoon in the same room?'],
  ['prob-1', 'probabilistic thinking', 'You flip a fair coin three times. What is the chance of at least one head?'],
  ['prob-2', 'probabilistic thinking', 'A family has two children and one is a girl. What is the chance both are girls?'],
  ['prob-3', 'probabilistic thinking', 'You roll two dice. Which sum is the most likely?'],
  ['prob-4', 'probabilistic thinking', 'A test for a rare illness is 99% accurate. Someone tests positive. Are they almost surely ill?'],
  ['systems-1', 'systems thinking', 'A bathtub fills at 10 litres a minute and drains at 4. It holds 120 litres. When is it full?'],
  ['systems-2', 'systems thinking', 'Why can adding more workers to a late project make it later?'],
  ['systems-3', 'systems thinking', 'Wolves are brought back to a park and the rivers change course. How could that be?'],
  ['systems-4', 'systems thinking', 'A thermostat turns the heater on below 19 degrees and off above 21. What does the temperature do over a day?'],
  ['creative-1', 'creative problem solving', 'How can you measure exactly 4 litres with a 3 litre jug and a 5 litre jug?'],
  ['creative-2', 'creative problem solving', 'How can you cut a round cake into 8 equal pieces with only 3 straight cuts?'],
  ['creative-3', 'creative problem solving', 'How do you get a wolf, a goat and a cabbage across a river in a boat that carries one at a time?'],
  ['creative-4', 'creative problem solving', 'How can you find the heaviest of 8 balls with a balance in only 2 weighings, if one is heavier?'],
  ['science-1', 'scientific reasoning', 'Why does a heavy ball and a light ball dropped together land at about the same time?'],
  ['science-2', 'scientific reasoning', 'Why is the sky blue during the day but red at sunset?'],
  ['science-3', 'scientific reasoning', 'How could you test whether plants grow better with music?'],
  ['science-4', 'scientific reasoning', 'Why does salt melt ice on the road?'],
].map(([id, category, prompt]) => ({ id: id!, category: category!, prompt: prompt! }));

/** The authored task set as JSONL text (what `thinking-demo` writes). */
export function authoredTasksJsonl(): string {
  return AUTHORED_TASKS.map((t) => JSON.stringify(t)).join('\n') + '\n';
}
