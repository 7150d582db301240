/**
 * Show Projection on editor text: for a constructed projection (values chosen so every level of
 * the scale is worked out by hand), the decorations the editor gets carry the theme colour of
 * each token's level at the token's place in the document, steered tokens are outlined, the
 * hover names the token and charts its value across layers, and choosing another layer
 * re-colours. Runs the real ProjectionDecorations over the vscode mock.
 */
import '../extension/vscodeMock';
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { mock, Uri, window } from '../extension/vscodeMock';
import { ProjectionDecorations } from '../../extension/projectionDecorations';
import { decorationPlan, hoverMarkdown, sparklineSvg, textOffset } from '../../extension/projectionView';
import { PROJECTION_EDITED_COLOR_ID, projectionColorId, projectionLevel, type ProjectionResult } from '../../runtime/protocol/probe';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** "ab cd ef" as BOS, "ab", " cd", " ef"; two layers; steered at the last token. */
const RESULT: ProjectionResult = {
  prompt: { text: 'ab cd ef', tokens: [{ id: 1, piece: '', start: 0, end: 0 }, { id: 40, piece: 'ab', start: 0, end: 2 }, { id: 41, piece: ' cd', start: 2, end: 5 }, { id: 42, piece: ' ef', start: 5, end: 8 }] },
  hooks: ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post'],
  labels: ['layer 0 post', 'layer 1 post'],
  // Layer 0: domain 10, so 10 → +5, −5 → −3 (2.5 rounds up), 2 → +1. Layer 1: domain 4, −4 → −5, 0.5 → +1, 3 → +4.
  values: [[0, 10, -5, 2], [1, -4, 0.5, 3]],
  directionSource: 'dir.npy',
  directionFrom: ['dir.npy', 'dir.npy'],
  editedPositions: [3],
};

interface Applied {
  colorId: string;
  ranges: [number, number][];
}

function fakeEditor(text: string) {
  const calls = new Map<unknown, [number, number][]>();
  const doc = {
    uri: Uri.file('/work/notes.txt'),
    version: 1,
    getText: () => text,
    positionAt: (offset: number) => ({ offset }),
    offsetAt: (p: { offset: number }) => p.offset,
  };
  const editor = {
    document: doc,
    setDecorations(type: unknown, ranges: { start: { offset: number }; end: { offset: number } }[]) {
      calls.set(type, ranges.map((r) => [r.start.offset, r.end.offset]));
    },
  };
  /** What the editor shows now: colour id → ranges, non-empty only. */
  const shown = (): Applied[] =>
    [...calls.entries()]
      .filter(([, ranges]) => ranges.length > 0)
      .map(([type, ranges]) => {
        const o = (type as { options: { backgroundColor?: { id: string }; borderColor?: { id: string } } }).options;
        return { colorId: (o.backgroundColor ?? o.borderColor)!.id, ranges };
      })
      .sort((a, b) => a.colorId.localeCompare(b.colorId));
  return { doc, editor, shown };
}

beforeEach(() => mock.reset());

describe('Show Projection on editor text', () => {
  it('the scale: five levels a side, the largest |value| at 5, zero uncoloured', () => {
    assert.deepEqual([10, 9.9, 6.1, 6, 2, 0.01, 0, -0.01, -5, -10].map((v) => projectionLevel(v, 10)), [5, 5, 4, 3, 1, 1, 0, -1, -3, -5]);
    assert.equal(projectionColorId(3), 'layerlab.projection.positive3');
    assert.equal(projectionColorId(-5), 'layerlab.projection.negative5');
    // Every colour the code names is contributed, with light, dark and high-contrast defaults.
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const contributed = new Map<string, Record<string, string>>(pkg.contributes.colors.map((c: { id: string; defaults: Record<string, string> }) => [c.id, c.defaults]));
    for (const level of [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]) assert.deepEqual(Object.keys(contributed.get(projectionColorId(level))!).sort(), ['dark', 'highContrast', 'highContrastLight', 'light']);
    assert.ok(contributed.has(PROJECTION_EDITED_COLOR_ID));
  });

  it('decorations carry each token\u2019s level colour at its place in the document; the steered token is outlined; another layer re-colours', () => {
    const text = 'Notes: ab cd ef';
    const base = 7;
    assert.equal(textOffset(RESULT.prompt.text, text), base);
    const { doc, editor, shown } = fakeEditor(text);
    (window as unknown as { visibleTextEditors: unknown[] }).visibleTextEditors = [editor];
    const deco = new ProjectionDecorations();
    try {
      deco.show(doc as never, RESULT, base, 0);
      assert.deepEqual(shown(), [
        { colorId: 'layerlab.projection.editedBorder', ranges: [[12, 15]] },
        { colorId: 'layerlab.projection.negative3', ranges: [[9, 12]] },
        { colorId: 'layerlab.projection.positive1', ranges: [[12, 15]] },
        { colorId: 'layerlab.projection.positive5', ranges: [[7, 9]] },
      ]);
      assert.match(mock.statusBar.text, /x·d̂ layer 0 post/);
      assert.ok(mock.executed.some((c) => c.command === 'setContext' && c.args[0] === 'layerlab.projectionShown' && c.args[1] === true));
      deco.setLayer(1);
      assert.deepEqual(shown(), [
        { colorId: 'layerlab.projection.editedBorder', ranges: [[12, 15]] },
        { colorId: 'layerlab.projection.negative5', ranges: [[7, 9]] },
        { colorId: 'layerlab.projection.positive1', ranges: [[9, 12]] },
        { colorId: 'layerlab.projection.positive4', ranges: [[12, 15]] },
      ]);
      // The hover over " cd" (offset 10): its id, its value at the layer, and the chart of both layers.
      const { provider } = mock.hoverProviders[0]!;
      const hover = (provider as { provideHover(d: unknown, p: unknown): { contents: { value: string }; range: { start: { offset: number }; end: { offset: number } } } }).provideHover(doc, { offset: 10 });
      assert.match(hover.contents.value, /token id 41 · position 2/);
      assert.match(hover.contents.value, /x·d̂ at layer 1 post \(blocks\.1\.hook_resid_post\): \*\*0\.5000\*\*/);
      assert.deepEqual([hover.range.start.offset, hover.range.end.offset], [9, 12]);
      const svg = Buffer.from(/data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)/.exec(hover.contents.value)![1]!, 'base64').toString('utf8');
      assert.equal(/points="([^"]+)"/.exec(svg)![1]!.split(' ').length, 2, 'one point per layer');
      assert.equal((provider as { provideHover(d: unknown, p: unknown): unknown }).provideHover(doc, { offset: 3 }), undefined, 'outside the projected text: no hover');
      deco.clear();
      assert.deepEqual(shown(), []);
    } finally {
      deco.dispose();
      (window as unknown as { visibleTextEditors: unknown[] }).visibleTextEditors = [];
    }
  });

  it('plans and hovers as plain data: BOS has no characters; the chart marks the chosen layer', () => {
    const plan = decorationPlan(RESULT, 0, 0);
    assert.equal(plan.unplaced, 1);
    assert.equal(plan.domain, 10);
    assert.equal(textOffset('abc', 'xyz'), undefined);
    assert.match(hoverMarkdown(RESULT, 3, 0), /\*steered here\*/);
    const svg = sparklineSvg([1, -4], 1, 100, 40);
    // Zero line at y = 4 + (1 − 0)·32/5 = 10.4; the chosen layer (−4) at the bottom, y = 36.
    assert.match(svg, /y1="10\.4"/);
    assert.match(svg, /<circle cx="96\.0" cy="36\.0"/);
  });
});
