/**
 * The reasoning-behaviour workflow in the editor (extension/thinking/), over the vscode mock:
 * the Reasoning Behaviours view lists chains, annotations and vectors; an annotations file opens
 * as a document whose spans are decorated per behaviour at the right characters (multi-byte text
 * included); a quick fix relabels or removes a span and rewrites the file; stale and invalid
 * edits are refused with the file untouched.
 */
import '../extension/vscodeMock';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { AnnotationsView, annotationsUri } from '../../extension/thinking/annotations';
import { scanThinking, thinkingNodes } from '../../extension/thinking/tree';
import { BEHAVIOUR_COLORS, BEHAVIOURS, type Chain } from '../../runtime/protocol/thinking';
import { hoverProviderFor, mock, type CodeAction, type MockDocument, type MockEditor, type Position, type Range } from '../extension/vscodeMock';
import { tmpDir } from '../helpers/tmp';

function chain(id: string, text: string): Chain {
  const cps = Array.from(text);
  return { id, task: id, category: 'story', prompt: 'p', prompt_ids: [1], ids: cps.map((_, i) => i + 3), text, offsets: cps.map((_, i) => [i, i + 1]), stop_reason: 'eos' };
}

const CHAINS = [chain('a', 'So it is 4. Wait, maybe 5?'), chain('b', 'Café 😀 ok. Therefore 2.')];

function writeFiles(dir: string): { chains: string; annotations: string } {
  fs.mkdirSync(dir, { recursive: true });
  const chains = path.join(dir, 'run.chains.jsonl');
  fs.writeFileSync(chains, CHAINS.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const annotations = path.join(dir, 'run.annotations.rules.jsonl');
  const header = { layerlab: 'annotations', version: 1, chains, chains_hash: 'x', annotator: { kind: 'rules' }, created: 'now' };
  const spans = [
    { chain: 'a', start: 0, end: 11, category: 'deduction' },
    { chain: 'a', start: 12, end: 26, category: 'backtracking' },
    { chain: 'b', start: 11, end: 23, category: 'deduction' },
  ];
  fs.writeFileSync(annotations, [header, ...spans].map((l) => JSON.stringify(l)).join('\n') + '\n');
  return { chains, annotations };
}

/** The document text between a decoration range's ends. */
function rangeText(e: MockEditor, r: Range): string {
  return e.document.getText().slice(e.document.offsetAt(r.start), e.document.offsetAt(r.end));
}

describe('reasoning behaviours in the editor', () => {
  beforeEach(() => mock.reset());

  it('the view lists chains, annotations and vectors, each group with how to fill it when empty', async () => {
    const dir = tmpDir();
    const empty = thinkingNodes(await scanThinking(dir), dir);
    assert.deepEqual(empty.map((g) => [g.label, g.children!.map((c) => c.label)]), [
      ['Chains', ['No chains yet: LayerLab: Generate Reasoning Chains']],
      ['Annotations', ['No annotations yet: LayerLab: Annotate Chains']],
      ['Vectors', ['No vectors yet: LayerLab: Compute Behaviour Vectors']],
    ]);
    const { annotations } = writeFiles(path.join(dir, 'stories'));
    fs.writeFileSync(path.join(dir, 'stories', 'run.annotations.rules.replies.jsonl'), '{}\n');
    fs.writeFileSync(path.join(dir, 'stories', 'run.annotations.rules.vectors.safetensors'), 'x');
    fs.writeFileSync(path.join(dir, 'stories', 'run.annotations.rules.vectors.json'), '{"format": "layerlab-behaviour-vectors"}');
    const nodes = thinkingNodes(await scanThinking(dir), dir);
    const [chains, anns, vectors] = nodes;
    assert.deepEqual(chains!.children!.map((n) => [n.kind, n.label, n.description]), [['chains', 'stories/run.chains.jsonl', '2 chains']]);
    assert.deepEqual(anns!.children!.map((n) => [n.kind, n.label, n.description, n.command?.command, n.command?.arguments]), [
      ['annotations', 'stories/run.annotations.rules.jsonl', 'rules · 3 spans', 'layerlab.openAnnotations', [annotations]],
    ]);
    assert.match(anns!.children![0]!.tooltip!, /deduction: 2\nadding-knowledge: 0\nexample-testing: 0\nuncertainty-estimation: 0\nbacktracking: 1/);
    // A vectors file whose statistics do not parse says why.
    assert.deepEqual([vectors!.children![0]!.kind, vectors!.children![0]!.description, vectors!.children![0]!.icon], ['vectors', 'unreadable', 'warning']);
  });

  it('spans are decorated per behaviour at their characters, in the behaviour\'s theme colour', async () => {
    const { annotations } = writeFiles(tmpDir());
    const view = new AnnotationsView(() => {});
    view.register();
    const editor = (await view.open(annotations)) as unknown as MockEditor;
    const text = editor.document.getText();
    assert.equal(text, '### a · story\nSo it is 4. Wait, maybe 5?\n\n### b · story\nCafé 😀 ok. Therefore 2.\n\n');
    const types = mock.decorationTypes;
    assert.deepEqual(types.map((t) => (t.options.borderColor as { id: string }).id), BEHAVIOURS.map((b) => BEHAVIOUR_COLORS[b]));
    const drawn = (b: (typeof BEHAVIOURS)[number]) => (editor.decorations.get(types[BEHAVIOURS.indexOf(b)]) ?? []).map((r) => rangeText(editor, r));
    assert.deepEqual(drawn('deduction'), ['So it is 4.', 'Therefore 2.'], 'code points 11–23 of chain b, after an emoji of two UTF-16 units');
    assert.deepEqual(drawn('backtracking'), ['Wait, maybe 5?']);
    assert.deepEqual(drawn('initializing'), []);
    // Hover names the behaviour, its definition and the file line.
    const hover = hoverProviderFor<{ provideHover(doc: MockDocument, pos: Position): unknown }>('layerlab-annotations')!.provideHover(editor.document, editor.document.positionAt(text.indexOf('Therefore') + 2)) as { contents: { value: string }[] };
    assert.match(hover.contents[0]!.value, /^\*\*deduction\*\* — the model derives .*chain `b`, characters 11–23, run\.annotations\.rules\.jsonl:4$/s);
  });

  it('a quick fix relabels or removes the span under the cursor and rewrites the file', async () => {
    const { annotations } = writeFiles(tmpDir());
    const before = fs.readFileSync(annotations, 'utf8').split('\n');
    const view = new AnnotationsView(() => {});
    view.register();
    const editor = (await view.open(annotations)) as unknown as MockEditor;
    const at = editor.document.positionAt(editor.document.getText().indexOf('maybe'));
    const actions = mock.codeActionProviders.get('layerlab-annotations')!.provideCodeActions(editor.document, { start: at, end: at } as Range) as CodeAction[];
    assert.deepEqual(actions.map((a) => a.title), [
      'Relabel backtracking span as initializing',
      'Relabel backtracking span as deduction',
      'Relabel backtracking span as adding-knowledge',
      'Relabel backtracking span as example-testing',
      'Relabel backtracking span as uncertainty-estimation',
      'Remove this backtracking span',
    ]);
    // Run the quick fix as VS Code does: its command with its arguments.
    const run = (a: CodeAction) => mock.registered.get(a.command!.command)!(...a.command!.arguments!) as Promise<void>;
    await run(actions[4]!);
    const relabelled = fs.readFileSync(annotations, 'utf8').split('\n');
    assert.deepEqual(JSON.parse(relabelled[2]!), { chain: 'a', start: 12, end: 26, category: 'uncertainty-estimation' });
    assert.deepEqual([relabelled[0], relabelled[1], relabelled[3]], [before[0], before[1], before[3]], 'other lines untouched');
    const redrawn = view.state(annotationsUri(annotations))!;
    assert.deepEqual(redrawn.doc.ranges.map((r) => r.category), ['deduction', 'uncertainty-estimation', 'deduction']);

    const remove = (mock.codeActionProviders.get('layerlab-annotations')!.provideCodeActions(editor.document, { start: at, end: at } as Range) as CodeAction[]).at(-1)!;
    assert.equal(remove.title, 'Remove this uncertainty-estimation span');
    await run(remove);
    assert.deepEqual(fs.readFileSync(annotations, 'utf8').split('\n'), [before[0], before[1], before[3], '']);
  });

  it('an edit of a file that changed since it was shown, or that would break it, is refused and writes nothing', async () => {
    const { annotations } = writeFiles(tmpDir());
    const view = new AnnotationsView(() => {});
    view.register();
    const editor = (await view.open(annotations)) as unknown as MockEditor;
    const pos = editor.document.positionAt(0 + editor.document.getText().indexOf('So it'));
    const actions = mock.codeActionProviders.get('layerlab-annotations')!.provideCodeActions(editor.document, { start: pos, end: pos } as Range) as CodeAction[];
    const run = (a: CodeAction) => mock.registered.get(a.command!.command)!(...a.command!.arguments!) as Promise<void>;

    // Someone else moved the span on line 2.
    const lines = fs.readFileSync(annotations, 'utf8').split('\n');
    lines[1] = JSON.stringify({ chain: 'a', start: 0, end: 5, category: 'deduction' });
    fs.writeFileSync(annotations, lines.join('\n'));
    const changed = fs.readFileSync(annotations, 'utf8');
    await run(actions[0]!);
    assert.equal(fs.readFileSync(annotations, 'utf8'), changed);
    assert.match(mock.shown.at(-1)!.message, /run\.annotations\.rules\.jsonl changed since it was shown \(line 2 holds another span now\); reopen it/);

    // Relabelling onto a behaviour the same characters already carry would repeat a span.
    const { annotations: again } = writeFiles(tmpDir());
    const dup = fs.readFileSync(again, 'utf8').trimEnd() + '\n' + JSON.stringify({ chain: 'a', start: 0, end: 11, category: 'backtracking' }) + '\n';
    fs.writeFileSync(again, dup);
    const e2 = (await view.open(again)) as unknown as MockEditor;
    const p2 = e2.document.positionAt(e2.document.getText().indexOf('So it'));
    const acts = mock.codeActionProviders.get('layerlab-annotations')!.provideCodeActions(e2.document, { start: p2, end: p2 } as Range) as CodeAction[];
    const toBacktracking = acts.find((a) => a.title === 'Relabel deduction span as backtracking')!;
    await run(toBacktracking);
    assert.equal(fs.readFileSync(again, 'utf8'), dup);
    assert.match(mock.shown.at(-1)!.message, /\(line 5\): span \[0, 11\) of chain "a" repeats the backtracking span of line 2/);
  });
});
