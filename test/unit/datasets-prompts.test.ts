// Prompt templates and few-shot prompts, compared with strings written out by hand from
// SEED.md's text (and, for GSM8K, from the seed's template).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { sharedFile } from '../helpers/sharedData';
import {
  describeTemplate, factualRecallPrompt, gsm8kExamplesFromRecords, gsm8kFewShot, loadDataset, MmluProFewShot, parseTemplate,
  PromptError, popqaPrompt, renderPrompt, type ChatMessage, type QARecord,
} from '../../datasets';

const rec: QARecord = { id: 'r1', index: 0, question: 'What is 2 + 2?', options: ['3', '4', '5', '22'], answer: 'B', category: 'math' };
const open: QARecord = { id: 'r2', index: 1, question: 'How many legs does a spider have?', options: [], answer: '8' };

/** A stand-in chat template that records what it was given. */
function fakeChat() {
  const calls: { messages: ChatMessage[]; opts: { addGenerationPrompt: boolean } }[] = [];
  return {
    calls,
    applyChatTemplate: (messages: ChatMessage[], opts: { addGenerationPrompt: boolean }) => {
      calls.push({ messages, opts });
      return messages.map((m) => `<|${m.role}|>${m.content}`).join('') + (opts.addGenerationPrompt ? '<|assistant|>' : '');
    },
  };
}

describe('prompt templates', () => {
  test('seed-chat: system prompt and the user message exactly as SEED.md spells it', () => {
    const chat = fakeChat();
    const out = renderPrompt({ kind: 'seed-chat' }, rec, chat);
    // SEED.md: user message `Q: {question}\nOptions are:\n(A): {opt}\n(B): {opt}\n…\nA: `
    const user = 'Q: What is 2 + 2?\nOptions are:\n(A): 3\n(B): 4\n(C): 5\n(D): 22\nA: ';
    assert.deepEqual(chat.calls, [{
      messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: user }],
      opts: { addGenerationPrompt: true },
    }]);
    assert.equal(out, `<|system|>You are a helpful assistant.<|user|>${user}<|assistant|>`);
  });

  test('seed-chat on an open question leaves out the options block', () => {
    const chat = fakeChat();
    renderPrompt({ kind: 'seed-chat' }, open, chat);
    assert.equal(chat.calls[0]!.messages[1]!.content, 'Q: How many legs does a spider have?\nA: ');
  });

  test('seed-chat without a chat template says so and suggests bare', () => {
    assert.throws(() => renderPrompt({ kind: 'seed-chat' }, rec, { modelName: 'stories260K' }),
      (e: unknown) => e instanceof PromptError && /chat template/.test(e.message) && /stories260K/.test(e.message) && /--template bare/.test(e.message));
    assert.throws(() => renderPrompt({ kind: 'seed-chat' }, rec, { applyChatTemplate: null }), /bare/);
    assert.throws(() => renderPrompt({ kind: 'seed-chat' }, rec, { applyChatTemplate: () => { throw new Error('undefined variable'); } }),
      /chat template failed: undefined variable/);
  });

  test('bare: the paper\'s `Q: {question}\\nA: `, no options', () => {
    assert.equal(renderPrompt({ kind: 'bare' }, rec), 'Q: What is 2 + 2?\nA: ');
  });

  test('user templates: placeholders, literal braces, chat wrapping, errors', () => {
    const t = parseTemplate('Question: {question}\\n{options}\\nAnswer: ({answer}) {{not a field}}');
    assert.equal(renderPrompt(t, rec), 'Question: What is 2 + 2?\n(A): 3\n(B): 4\n(C): 5\n(D): 22\nAnswer: (B) {not a field}');
    assert.equal(renderPrompt({ kind: 'user', template: '{question}|{options}|' }, open), 'How many legs does a spider have?||');
    assert.throws(() => renderPrompt({ kind: 'user', template: '{question} {answer}' }, { ...open, answer: undefined }), /has no answer/);
    assert.throws(() => parseTemplate('Q: {question} {choices}'), /unknown placeholder \{choices\}/);
    assert.throws(() => parseTemplate('Q: {options}'), /no \{question\}/);
    assert.throws(() => parseTemplate('seedchat'), /unknown prompt template "seedchat"/);
    const chat = fakeChat();
    const ct = parseTemplate('Q: {question}', { chat: true, system: 'Be brief.' });
    renderPrompt(ct, rec, chat);
    assert.deepEqual(chat.calls[0]!.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Q: What is 2 + 2?' }]);
    assert.deepEqual(parseTemplate('bare'), { kind: 'bare' });
    assert.deepEqual(parseTemplate('seed-chat'), { kind: 'seed-chat' });
  });

  test('describeTemplate is JSON-serialisable and records the exact texts', () => {
    for (const t of [{ kind: 'seed-chat' } as const, { kind: 'bare' } as const, parseTemplate('A {question} B', { chat: true })]) {
      const d = describeTemplate(t);
      assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
    }
    const seed = describeTemplate({ kind: 'seed-chat' });
    assert.equal(seed.system, 'You are a helpful assistant.');
    assert.equal(seed.text, 'Q: {question}\nOptions are:\n{options}\nA: ');
    assert.equal(seed.optionLine, '({letter}): {option}');
    assert.equal(seed.addGenerationPrompt, true);
    assert.equal(describeTemplate({ kind: 'bare' }).text, 'Q: {question}\nA: ');
  });
});

// ---------------------------------------------------------------------------------------------

const ex = (id: string, category: string, answer: string, cot?: string): QARecord => ({
  id, index: 0, question: `Question ${id}?`, options: ['yes', 'no'], answer, category, ...(cot ? { cot } : {}),
});

describe('MMLU-Pro few-shot', () => {
  const examples = [
    ex('m1', 'math', 'A', "A: Let's think step by step. One. The answer is (A)."),
    ex('l1', 'law', 'B', "A: Let's think step by step. Law. The answer is (B)."),
    ex('m2', 'math', 'B', "A: Let's think step by step. Two. The answer is (B)."),
    ex('m3', 'math', 'A', "A: Let's think step by step. Three. The answer is (A)."),
  ];
  const q: QARecord = { id: 'q', index: 5, question: 'Is 7 prime?', options: ['yes', 'no', 'maybe'], answer: 'A', category: 'math' };

  test('without CoT: `Q: {q}\\n{options}\\nA: The answer is ({X}).\\n\\n` per example, query ends `A: `', () => {
    const fs2 = new MmluProFewShot(examples, { shots: 2 });
    const { prefix, query } = fs2.render(q);
    assert.equal(prefix,
      'Q: Question m1?\nOptions are:\n(A): yes\n(B): no\nA: The answer is (A).\n\n' +
      'Q: Question m2?\nOptions are:\n(A): yes\n(B): no\nA: The answer is (B).\n\n');
    assert.equal(query, 'Q: Is 7 prime?\nOptions are:\n(A): yes\n(B): no\n(C): maybe\nA: ');
  });

  test("with CoT: `Q: {q}\\n{options}\\n{cot_content}\\n\\n`, query ends `A: Let's think step by step. `", () => {
    const fs2 = new MmluProFewShot(examples, { shots: 2, cot: true });
    const { prefix, query } = fs2.render(q);
    assert.equal(prefix,
      "Q: Question m1?\nOptions are:\n(A): yes\n(B): no\nA: Let's think step by step. One. The answer is (A).\n\n" +
      "Q: Question m2?\nOptions are:\n(A): yes\n(B): no\nA: Let's think step by step. Two. The answer is (B).\n\n");
    assert.equal(query, "Q: Is 7 prime?\nOptions are:\n(A): yes\n(B): no\n(C): maybe\nA: Let's think step by step. ");
  });

  test('the prefix is shared per category; MMLU subjects map to MMLU-Pro categories; errors', () => {
    const fs2 = new MmluProFewShot(examples, { shots: 2 });
    const other = fs2.render({ ...q, id: 'q2', question: 'Is 9 prime?' });
    assert.equal(other.prefix, fs2.render(q).prefix);
    assert.equal(fs2.categoryOf({ ...q, category: 'abstract_algebra' }), 'math');
    assert.throws(() => fs2.render({ ...q, category: 'law' }), /category "law" has 1 few-shot examples but 2 are needed/);
    assert.throws(() => fs2.render({ ...q, category: 'cooking' }), /no few-shot examples for category "cooking"/);
    assert.throws(() => new MmluProFewShot([ex('x', 'math', 'A')], { shots: 1, cot: true }).render(q), /no cot_content/);
    assert.deepEqual(fs2.describe(), { kind: 'mmlu-pro-fewshot', cot: false, shots: 2, examples: { math: ['m1', 'm2'], law: ['l1'] } });
  });
});

describe('GSM8K and PopQA prompts', () => {
  // The seed's template, character for character (its lines carry a two-space indent).
  const SEED_GSM8K = "As an expert problem solver, solve step by step the following mathematical questions.\n\n" +
    "  Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?\n" +
    "  A: Let's think step by step. There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6. The final answer is 6.\n\n" +
    "  Q: If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?\n" +
    "  A: Let's think step by step. There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5. The final answer is 5.\n\n" +
    "  Q: Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?\n" +
    "  A: Let's think step by step. Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39. The answer is 39. The final answer is 39.\n\n" +
    "  Q: Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?\n" +
    "  A: Let's think step by step. Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. The answer is 8. The final answer is 8.\n\n" +
    "  Q: Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?\n" +
    "  A: Let's think step by step. Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. The answer is 9. The final answer is 9.\n\n" +
    "  Q: There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?\n" +
    "  A: Let's think step by step. There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29. The final answer is 29.\n\n" +
    "  Q: Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?\n" +
    "  A: Let's think step by step. Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33. The final answer is 33.\n\n" +
    "  Q: Olivia has $23. She bought five bagels for $3 each. How much money does she have left?\n" +
    "  A: Let's think step by step. Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8. The final answer is 8.\n\n" +
    "  Q: {TARGET_QUESTION}\n" +
    "  A: Let's think step by step. ";

  test("GSM8K 8-shot with indent '  ' reproduces the seed's template byte for byte", () => {
    const { prefix, query } = gsm8kFewShot(open, { indent: '  ' });
    assert.equal(prefix + query, SEED_GSM8K.replace('{TARGET_QUESTION}', open.question));
  });

  test('GSM8K default: no indent, same examples, query after the shared prefix', () => {
    const { prefix, query } = gsm8kFewShot(open);
    assert.ok(prefix.startsWith('As an expert problem solver, solve step by step the following mathematical questions.\n\nQ: There are 15 trees'));
    assert.equal(prefix.split("\nA: Let's think step by step. ").length - 1, 8);
    assert.ok(prefix.endsWith('The answer is 8. The final answer is 8.\n\n'));
    assert.equal(query, "Q: How many legs does a spider have?\nA: Let's think step by step. ");
    assert.equal(gsm8kFewShot({ ...open, question: 'Other?' }).prefix, prefix);
  });

  const GSM8K = sharedFile('gsm8k/test.jsonl');
  test('GSM8K examples from a file: first 8 worked solutions, calculator notes removed', { skip: GSM8K.skip }, async () => {
    const ds = await loadDataset(GSM8K.path);
    const { examples, ids } = gsm8kExamplesFromRecords(ds.records);
    assert.deepEqual(ids, ['0', '1', '2', '3', '4', '5', '6', '7']);
    assert.deepEqual(examples[0], {
      question: ds.records[0]!.question,
      reasoning: 'Janet sells 16 - 3 - 4 = 9 duck eggs a day. She makes 9 * 2 = $18 every day at the farmer’s market.',
      answer: '18',
    });
    const { prefix } = gsm8kFewShot(ds.records[100]!, { examples });
    assert.ok(prefix.includes("A: Let's think step by step. Janet sells 16 - 3 - 4 = 9 duck eggs a day. She makes 9 * 2 = $18 every day at the farmer’s market. The final answer is 18.\n\n"));
    assert.ok(!prefix.includes('<<'));
  });

  test('PopQA zero-shot `Q: {question} A:`; factual recall uses the prompt as is', () => {
    const p: QARecord = { id: '1', index: 0, question: 'What is the capital of Var?', options: [], aliases: ['Toulon'] };
    assert.deepEqual(popqaPrompt(p), { prefix: '', query: 'Q: What is the capital of Var? A:' });
    const f: QARecord = { id: '0', index: 0, question: 'Vinson Massif is located in the continent of', options: [], aliases: ['Antarctica'] };
    assert.deepEqual(factualRecallPrompt(f), { prefix: '', query: 'Vinson Massif is located in the continent of' });
  });
});
