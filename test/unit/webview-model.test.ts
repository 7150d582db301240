// The chart pages' data models (webview/model), outside the browser, on synthetic run files
// (test/helpers/runFixtures.ts, labelled fixtures) that cover shapes the demo runs do not.
// Expectations come from the fixtures' own fields, recomputed here independently.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunFile, Subset } from '../../runtime/protocol/results';
import { contrast, diverging, mix, parseColor, readableOn } from '../../webview/model/color';
import { toCsv } from '../../webview/model/csv';
import { buildDirectionView, defaultHook, histogramTable, metricTable, projectionHistogram } from '../../webview/model/directions';
import {
  accuracyTable,
  baselineItemFor,
  buildHeatmap,
  buildRunView,
  drillItems,
  drillLayerChoices,
  heatDomain,
  heatmapTable,
  interventionsAtSlot,
  mostlyUnparsed,
  pts,
  settingOf,
  slotOfIntervention,
  unparsedHeavy,
  unparsedWarning,
} from '../../webview/model/run';
import { fixtureDirections, fixtureRun } from '../helpers/runFixtures';

const SUBSETS: Subset[] = ['reasoning', 'memorization'];
const byId = (run: RunFile, id: string) => run.results.find((r) => r.intervention.id === id)!;
const baseline = (run: RunFile) => run.results.find((r) => r.intervention.kind === 'none')!;

/** RFC 4180 reader for checking the export (independent of the writer). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') (f += '"'), i++;
      else if (c === '"') q = false;
      else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') row.push(f), (f = '');
    else if (c === '\r' && text[i + 1] === '\n') (row.push(f), rows.push(row), (row = []), (f = ''), i++);
    else f += c;
  }
  return rows;
}

describe('run view: accuracy per layer', () => {
  const run = fixtureRun({ layers: [0, 1, 2], scales: [-1, 1], alphas: [0, 2], randomControls: 2 });

  it('one series per (subset, setting), one point per layer, with the file\u2019s numbers', () => {
    const v = buildRunView([{ role: 'primary', run }]);
    const nonBaseline = run.results.filter((r) => r.intervention.kind !== 'none');
    const settings = new Set(nonBaseline.map((r) => JSON.stringify([r.intervention.kind, r.intervention.scale, r.intervention.alpha, r.intervention.randomIndex ?? null])));
    assert.equal(v.series.length, SUBSETS.length * settings.size);
    for (const s of v.series) {
      assert.deepEqual(s.points.map((p) => p.layerLabel), ['0', '1', '2']);
      for (const p of s.points) {
        const r = byId(run, p.interventionId);
        const a = r.summary[s.subset];
        assert.deepEqual([p.accuracy, p.lo, p.hi, p.correct, p.total, p.unparsed], [a.accuracy, ...a.ci95, a.correct, a.total, a.unparsed]);
        assert.equal(settingOf(r.intervention)!.key, s.setting.key);
        assert.equal(v.slots[p.slot]!.label, r.intervention.layers.join(','));
      }
    }
    for (const subset of SUBSETS) {
      const b = v.bands.filter((x) => x.subset === subset);
      assert.equal(b.length, 1);
      assert.deepEqual([b[0]!.accuracy, b[0]!.lo, b[0]!.hi], [baseline(run).summary[subset].accuracy, ...baseline(run).summary[subset].ci95]);
    }
  });

  it('random controls take the colour of the setting they control; measured settings differ', () => {
    const v = buildRunView([{ role: 'primary', run }]);
    const measured = v.settings.filter((s) => s.setting.kind === 'direction');
    assert.equal(new Set(measured.map((s) => s.colorIndex)).size, measured.length);
    for (const c of v.settings.filter((s) => s.setting.kind === 'random-direction')) {
      const m = measured.find((x) => x.setting.scale === c.setting.scale && x.setting.alpha === c.setting.alpha)!;
      assert.equal(c.colorIndex, m.colorIndex);
      assert.match(c.label, new RegExp(`^random #${c.setting.randomIndex}`));
    }
  });

  it('labels name only what varies: α appears when swept, the hook only when not the default', () => {
    const swept = buildRunView([{ role: 'primary', run }]);
    assert.ok(swept.settings.every((s) => s.label.includes(`scale=${s.setting.scale}`) && s.label.includes(`α=${s.setting.alpha}`) && !s.label.includes('post')));
    const plain = buildRunView([{ role: 'primary', run: fixtureRun({ scales: [-1, 1] }) }]);
    assert.ok(plain.settings.every((s) => !s.label.includes('α')));
  });

  it('interventions editing several blocks get their own slot after the single blocks', () => {
    const r = fixtureRun({ layers: [0, 7], blockSets: [[3, 4, 5]], randomControls: 0 });
    const v = buildRunView([{ role: 'primary', run: r }]);
    assert.deepEqual(v.slots.map((s) => s.label), ['0', '3,4,5', '7']);
    const multi = v.series[0]!.points.find((p) => p.layers.length === 3)!;
    assert.equal(multi.slot, 1);
  });

  it('a compare overlay tags both runs and lines up the same setting across different directions files', () => {
    const a = fixtureRun({ seed: 1 });
    const b = fixtureRun({ seed: 2 });
    for (const r of b.results) if (r.intervention.directionFile) r.intervention.directionFile = '/other/model/demo.directions.safetensors';
    const v = buildRunView([
      { role: 'primary', run: a },
      { role: 'compare', run: b },
    ]);
    assert.ok(v.series.filter((s) => s.role === 'primary').every((s) => s.label.startsWith('A: ')));
    assert.ok(v.series.filter((s) => s.role === 'compare').every((s) => s.label.startsWith('B: ')));
    assert.equal(v.settings.length, new Set(a.results.filter((r) => r.intervention.kind !== 'none').map((r) => settingOf(r.intervention)!.key)).size, 'no extra settings from B');
    const pa = v.series.find((s) => s.role === 'primary' && s.setting.kind === 'direction')!;
    const pb = v.series.find((s) => s.role === 'compare' && s.setting.key === pa.setting.key && s.subset === pa.subset)!;
    assert.equal(pa.colorIndex, pb.colorIndex);
    assert.equal(v.bands.length, 4);
  });

  it('overlaying a run keeps the shown run’s colours: settings only the compared run has get new ones', () => {
    // B sweeps scales A does not have, and those sort before A's: they must not take A's colours.
    const a = fixtureRun({ scales: [1, 2], randomControls: 1 });
    const b = fixtureRun({ scales: [-8, -4, 1], randomControls: 1, seed: 3 });
    const alone = buildRunView([{ role: 'primary', run: a }]);
    const overlaid = buildRunView([
      { role: 'primary', run: a },
      { role: 'compare', run: b },
    ]);
    const colours = (v: ReturnType<typeof buildRunView>) => new Map(v.series.filter((s) => s.role === 'primary').map((s) => [s.id, s.colorIndex]));
    assert.deepEqual(colours(overlaid), colours(alone));
    const onlyB = overlaid.settings.filter((s) => s.setting.scale < 0);
    const usedByA = new Set(alone.settings.map((s) => s.colorIndex));
    assert.ok(onlyB.length > 0 && onlyB.every((s) => !usedByA.has(s.colorIndex)), 'B’s own settings take colours A does not use');
  });

  it('several directions files in one sweep are separate settings named by their tag', () => {
    const r = fixtureRun({ tags: ['math', 'facts'], randomControls: 0 });
    const v = buildRunView([{ role: 'primary', run: r }]);
    assert.deepEqual(v.settings.map((s) => s.setting.fileTag).sort(), ['facts', 'math']);
    assert.ok(v.settings.every((s) => s.label.endsWith(s.setting.fileTag!)));
  });

  it('points of interventions still being evaluated are marked partial', () => {
    const r = fixtureRun();
    r.results[1]!.complete = false;
    const v = buildRunView([{ role: 'primary', run: r }]);
    const partial = v.series.flatMap((s) => s.points).filter((p) => !p.complete);
    assert.deepEqual([...new Set(partial.map((p) => p.interventionId))], [r.results[1]!.intervention.id]);
  });

  it('the data table and its CSV carry every point and band in full precision', () => {
    const v = buildRunView([{ role: 'primary', run }]);
    for (const subset of SUBSETS) {
      const t = accuracyTable(v, subset, { primary: 'A', compare: 'B' });
      const [head, ...rows] = parseCsv(toCsv(t));
      assert.deepEqual(head, t.columns);
      assert.equal(rows.length, run.results.length);
      const col = (n: string) => head!.indexOf(n);
      for (const row of rows) {
        const a = byId(run, row[col('intervention')]!).summary[subset];
        assert.deepEqual(['accuracy', 'ci95_low', 'ci95_high', 'correct', 'total'].map((k) => Number(row[col(k)])), [a.accuracy, ...a.ci95, a.correct, a.total]);
      }
    }
  });
});

describe('run view: sweep matrix', () => {
  it('cells are accuracy minus the baseline\u2019s, for measured directions only', () => {
    const run = fixtureRun({ layers: [0, 1, 2, 3], scales: [-2, 2], alphas: [0, 1], randomControls: 2 });
    for (const subset of SUBSETS) {
      const h = buildHeatmap(run, subset);
      const measured = run.results.filter((r) => r.intervention.kind === 'direction');
      assert.equal(h.cells.length, measured.length);
      assert.equal(h.rows.length * h.cols.length, measured.length, 'a full grid');
      const base = baseline(run).summary[subset].accuracy;
      for (const c of h.cells) {
        const r = byId(run, c.interventionId);
        assert.equal(r.intervention.kind, 'direction');
        assert.equal(c.delta, r.summary[subset].accuracy - base);
        assert.equal(h.cols[c.col]!.label, r.intervention.layers.join(','));
        assert.ok(h.rows[c.row]!.label.includes(`scale=${r.intervention.scale}`));
      }
      const t = heatmapTable(h);
      assert.equal(t.rows.length, h.cells.length);
    }
    const maps = SUBSETS.map((s) => buildHeatmap(run, s));
    const most = Math.max(...maps.flatMap((m) => m.cells.map((c) => Math.abs(c.delta))));
    assert.equal(heatDomain(maps), Math.max(most, 0.01));
  });

  it('without a baseline there is no change to show', () => {
    const h = buildHeatmap(fixtureRun({ baseline: false }), 'reasoning');
    assert.equal(h.baseline, null);
    assert.deepEqual(h.cells, []);
  });

  it('an unchanged sweep still has a non-empty colour domain', () => {
    const run = fixtureRun({ randomControls: 0 });
    for (const r of run.results) r.summary = baseline(run).summary;
    assert.ok(heatDomain(SUBSETS.map((s) => buildHeatmap(run, s))) > 0);
  });
});

describe('run view: drill-down', () => {
  const run = fixtureRun({ layers: [0, 1], perSubset: 20 });
  const target = run.results.find((r) => r.intervention.kind === 'direction')!;

  it('filters the items of one intervention by subset and correctness', () => {
    for (const subset of ['all', ...SUBSETS] as const) {
      const inSubset = target.items.filter((i) => subset === 'all' || i.subset === subset);
      const sel = (correctness: 'all' | 'correct' | 'wrong' | 'unparsed') => drillItems(run, { interventionId: target.intervention.id, subset, correctness }).map((i) => i.id);
      assert.deepEqual(sel('all'), inSubset.map((i) => i.id));
      assert.deepEqual(sel('correct'), inSubset.filter((i) => i.correct).map((i) => i.id));
      assert.deepEqual(sel('wrong'), inSubset.filter((i) => !i.correct).map((i) => i.id));
      assert.deepEqual(sel('unparsed'), inSubset.filter((i) => i.parsed === null).map((i) => i.id));
    }
    assert.ok(target.items.some((i) => i.unparsed), 'the fixture has unparsed items');
    assert.deepEqual(drillItems(run, { interventionId: 'no such', subset: 'all', correctness: 'all' }), []);
  });

  it('pairs an item with the same record under the baseline', () => {
    const item = target.items[5]!;
    const b = baselineItemFor(run, item.id)!;
    assert.equal(b.id, item.id);
    assert.equal(b, baseline(run).items.find((i) => i.id === item.id));
    assert.equal(baselineItemFor(fixtureRun({ baseline: false }), item.id), null);
  });

  it('offers the baseline and each layer, and the settings at a layer', () => {
    const choices = drillLayerChoices(run);
    assert.equal(choices[0]!.value, '');
    assert.deepEqual(choices.slice(1).map((c) => c.value), ['0', '1']);
    assert.deepEqual(interventionsAtSlot(run, '').map((x) => x.id), ['baseline']);
    const at1 = interventionsAtSlot(run, '1').map((x) => x.id).sort();
    assert.deepEqual(at1, run.results.filter((r) => r.intervention.layers.join() === '1').map((r) => r.intervention.id).sort());
    assert.equal(slotOfIntervention(run, target.intervention.id), target.intervention.layers.join(','));
    assert.equal(slotOfIntervention(run, 'baseline'), '');
  });
});

describe('CSV', () => {
  it('quotes commas, quotes and line breaks, and defuses spreadsheet formulas in text', () => {
    const text = toCsv({ columns: ['a', 'b', 'c', 'd'], rows: [['x, "y"', 'line\nbreak', '=SUM(A1)', -0.125], [null, true, '@cmd', 1e-17]] });
    const rows = parseCsv(text);
    assert.deepEqual(rows[1], ['x, "y"', 'line\nbreak', "'=SUM(A1)", '-0.125']);
    assert.deepEqual(rows[2], ['', 'true', "'@cmd", '1e-17']);
    assert.equal(Number(rows[2]![3]), 1e-17, 'numbers keep full precision');
    assert.ok(text.endsWith('\r\n'));
  });

  it('signs changes in percentage points', () => {
    assert.match(pts(0.0667), /^\+6\.7 pts$/);
    assert.match(pts(-0.0333), /^\u22123\.3 pts$/);
    assert.match(pts(0), /^±0\.0 pts$/);
    assert.match(pts(-0.00001), /^±0\.0 pts$/, 'a change that rounds to zero has no sign');
  });
});

describe('colours', () => {
  it('parses the forms theme variables take', () => {
    const hex = '#3794ff';
    assert.deepEqual(parseColor(hex), { r: parseInt('37', 16), g: parseInt('94', 16), b: parseInt('ff', 16), a: 1 });
    assert.deepEqual(parseColor('#fff8'), { r: 255, g: 255, b: 255, a: parseInt('88', 16) / 255 });
    assert.deepEqual(parseColor('rgba(204, 204, 204, 0.5)'), { r: 204, g: 204, b: 204, a: 0.5 });
    assert.deepEqual(parseColor('rgb(1 2 3 / 50%)'), { r: 1, g: 2, b: 3, a: 0.5 });
    assert.equal(parseColor('var(--x)'), null);
  });

  it('the diverging scale is the background at 0, the end colours at ±domain, and grows with |value|', () => {
    const bg = parseColor('#1f1f1f')!;
    const red = parseColor('#f14c4c')!;
    const blue = parseColor('#3794ff')!;
    assert.deepEqual(diverging(0, 0.3, bg, red, blue), bg);
    assert.deepEqual(diverging(0.3, 0.3, bg, red, blue), blue);
    assert.deepEqual(diverging(-0.9, 0.3, bg, red, blue), red, 'clamped beyond the domain');
    const dist = (c: ReturnType<typeof mix>) => Math.hypot(c.r - bg.r, c.g - bg.g, c.b - bg.b);
    assert.ok(dist(diverging(0.1, 0.3, bg, red, blue)) < dist(diverging(0.2, 0.3, bg, red, blue)));
  });

  it('cell text takes the more readable of foreground and background', () => {
    const light = parseColor('#ffffff')!;
    const dark = parseColor('#1f1f1f')!;
    const fg = parseColor('#cccccc')!;
    const pick = readableOn(light, [fg, dark]);
    assert.equal(pick, contrast(fg, light) > contrast(dark, light) ? fg : dark);
  });
});

describe('direction view', () => {
  const stats = fixtureDirections([0, 1, 2, 3]);

  it('series per statistic and split carry the file\u2019s values; missing and NaN values are gaps', () => {
    stats.layers[2]!.heldOut!.auc = null as unknown as number; // JSON writes NaN as null
    const v = buildDirectionView(stats);
    assert.deepEqual(v.metrics, ['auc', 'cohensD', 'pearsonR']);
    for (const s of v.series) {
      for (const p of s.points) {
        const l = stats.layers.find((x) => x.hook === p.hook)!;
        assert.equal(p.value, (s.split === 'train' ? l.train : l.heldOut!)[s.metric]);
        assert.equal(v.blocks[p.slot], l.block);
      }
    }
    const heldAuc = v.series.find((s) => s.metric === 'auc' && s.split === 'heldOut')!;
    assert.deepEqual(heldAuc.points.map((p) => p.block), [0, 1, 3]);
    assert.equal(v.series.some((s) => s.metric === 'pearsonR' && s.split === 'heldOut'), false, 'held-out r absent in the file');
    assert.equal(metricTable(v, 'auc').rows.length, 7);
  });

  it('the default hook has the strongest held-out separation', () => {
    const score = (l: (typeof stats.layers)[number]) => {
      const v = (l.heldOut ?? l.train).auc;
      return v !== null && Number.isFinite(v) ? Math.abs(v - 0.5) : -1;
    };
    const best = [...stats.layers].sort((a, b) => score(b) - score(a))[0]!;
    assert.equal(defaultHook(stats), best.hook);
  });

  it('histogram bins count every selected projection once, by label', () => {
    const hook = stats.layers[1]!.hook;
    for (const split of ['all', 'train', 'heldout'] as const) {
      const h = projectionHistogram(stats, hook, split);
      const values = stats.projections[hook]!.filter((p) => split === 'all' || p.split === split);
      assert.equal(h.edges[0], Math.min(...values.map((p) => p.value)));
      assert.equal(h.edges.at(-1), Math.max(...values.map((p) => p.value)));
      for (const subset of SUBSETS) {
        const mine = values.filter((p) => p.subset === subset);
        assert.equal(h.n[subset], mine.length);
        const want = h.edges.slice(0, -1).map((lo, i) => mine.filter((p) => p.value >= lo && (p.value < h.edges[i + 1]! || (i === h.edges.length - 2 && p.value <= h.edges[i + 1]!))).length);
        assert.deepEqual(h.counts[subset], want);
      }
      assert.equal(histogramTable(h).rows.length, h.edges.length - 1);
    }
  });

  it('a value on an inner edge goes to the bin above; equal values still get a bin', () => {
    const s = fixtureDirections([0], 6);
    const values = s.projections['blocks.0.hook_resid_post']!;
    const h0 = projectionHistogram(s, 'blocks.0.hook_resid_post', 'all');
    // Move a record that is neither the smallest nor the largest onto an inner edge, so the
    // range (and with it every edge) stays the same.
    const movable = values.find((p) => p.value > h0.edges[0]! && p.value < h0.edges.at(-1)!)!;
    movable.value = h0.edges[3]!;
    const h = projectionHistogram(s, 'blocks.0.hook_resid_post', 'all');
    assert.deepEqual(h.edges, h0.edges);
    const i = h.edges.indexOf(movable.value);
    assert.ok(i > 0, 'the value is an edge');
    const countAt = (k: number) => h.counts.reasoning[k]! + h.counts.memorization[k]!;
    assert.equal(countAt(i), values.filter((p) => p.value >= h.edges[i]! && p.value < h.edges[i + 1]!).length);
    for (const p of values) p.value = 0.5;
    const flat = projectionHistogram(s, 'blocks.0.hook_resid_post', 'all');
    assert.equal(flat.counts.reasoning.reduce((a, b) => a + b, 0) + flat.counts.memorization.reduce((a, b) => a + b, 0), values.length);
    assert.ok(flat.edges[0]! < 0.5 && flat.edges.at(-1)! > 0.5);
  });

  it('a hook without projections gives an empty histogram', () => {
    assert.deepEqual(projectionHistogram(stats, 'blocks.99.hook_resid_post', 'all').edges, []);
  });
});

describe('unparsed answers', () => {
  /** A run whose answers under `unparsedIds` were all unreadable (as a generation that never says "answer is"). */
  function withUnparsed(unparsedIds: (id: string) => boolean): RunFile {
    const r = fixtureRun({ layers: [0, 1], randomControls: 0 });
    for (const res of r.results) {
      if (!unparsedIds(res.intervention.id)) continue;
      for (const subset of SUBSETS) {
        const a = res.summary[subset];
        res.summary[subset] = { ...a, correct: 0, accuracy: 0, unparsed: a.total };
      }
    }
    return r;
  }

  it('a result is flagged when at least half its answers are unparsed', () => {
    assert.equal(mostlyUnparsed({ unparsed: 5, total: 10 }), true);
    assert.equal(mostlyUnparsed({ unparsed: 4, total: 10 }), false);
    assert.equal(mostlyUnparsed({ unparsed: 0, total: 0 }), false);
  });

  it('a run whose answers are all unparsed says so, and says how to read them', () => {
    const all = withUnparsed(() => true);
    assert.deepEqual(unparsedHeavy(all).map((f) => f.interventionId), all.results.map((r) => r.intervention.id));
    const total = all.results.reduce((n, r) => n + r.summary.reasoning.total + r.summary.memorization.total, 0);
    assert.equal(
      unparsedWarning(all),
      `Mostly unparsed answers in every result: ${total} of ${total} answers had no readable answer and count as wrong, so these accuracies reflect the answer format, not the model. ` +
        `To read them, raise --max_new_tokens (now ${all.spec.maxNewTokens}), try --lenient, or score by option log-probability (--scoring loglik).`,
    );
    const one = withUnparsed((id) => id === 'baseline');
    assert.match(unparsedWarning(one)!, /^Mostly unparsed answers in 1 of 3 results \(baseline\)/);
    assert.equal(unparsedWarning(fixtureRun()), null, 'a few unparsed answers (the fixtures have about 10%) are not flagged');
  });
});
