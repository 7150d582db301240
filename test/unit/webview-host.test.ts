// The chart panels' host side without a browser (the `vscode` API stubbed): the page's CSP and
// HTML, validation of what a page sends, the ready handshake and its re-handshake after a
// hidden panel is shown again, exports, file checks and the panel serializer.
import '../webview/vscodeStub';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { ChartFileError, chartKindOf, parseDirectionStats, parseRunFile } from '../../extension/chartFiles';
import { ChartPanels, type RunChartPanel } from '../../extension/chartPanel';
import { contentSecurityPolicy, exportBytes, exportFileName, pageHtml, parseWebviewMessage } from '../../extension/webviewHost';
import { CHART_VIEW_TYPES, MAX_EXPORT_CHARS } from '../../runtime/protocol/webview';
import { fixtureDirections, fixtureRun } from '../helpers/runFixtures';
import { tmpDir } from '../helpers/tmp';
import { fakeContext, stub, Uri, window as stubWindow, type FakePanel } from '../webview/vscodeStub';

const ROOT = path.resolve(__dirname, '..', '..');
const ctx = fakeContext(ROOT);
const logs: string[] = [];
const charts = new ChartPanels(ctx as never, { log: (level, m) => logs.push(`${level}: ${m}`) });
charts.register();
const dir = tmpDir();

function writeRun(name: string, run = fixtureRun()): string {
  const f = path.join(dir, 'runs', 'model', name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, JSON.stringify(run));
  return f;
}

const sentTypes = (p: RunChartPanel) => ((p.panel as unknown as FakePanel).webview.sent as { type: string }[]).map((m) => m.type);
const receive = (p: RunChartPanel, m: unknown) => (p.panel as unknown as FakePanel).webview.receive(m);
const settle = () => new Promise((r) => setTimeout(r, 20));

beforeEach(() => {
  stub.reset();
  logs.length = 0;
  for (const p of charts.panels()) p.dispose();
});

describe('page HTML and policy', () => {
  it('allows scripts only by nonce and nothing inline, remote or eval', () => {
    const csp = contentSecurityPolicy('https://x.vscode-cdn.net', 'N0nce');
    const d = Object.fromEntries(csp.split('; ').map((x) => [x.split(' ')[0], x.split(' ').slice(1)]));
    assert.deepEqual(d['default-src'], ["'none'"]);
    assert.deepEqual(d['script-src'], ["'nonce-N0nce'"]);
    assert.ok(!csp.includes('unsafe'), csp);
    assert.ok(!/https?:\/\/(?!x\.vscode-cdn\.net)/.test(csp), 'no other origin');
  });

  it('escapes the title and loads one script with the nonce', () => {
    const html = pageHtml({ page: 'run', title: '<img src=x onerror=alert(1)>', cspSource: 'https://c', nonce: 'abc', assets: { script: 'https://c/main.js', style: 'https://c/s.css', codicons: 'https://c/codicon.css' } });
    assert.ok(!html.includes('<img'));
    assert.equal(html.match(/<script/g)!.length, 1);
    assert.match(html, /<script nonce="abc" src="https:\/\/c\/main\.js"><\/script>/);
    assert.match(html, /<body data-page="run">/);
    assert.match(html, /id="vscode-codicon-stylesheet"/);
  });
});

describe('messages from the page', () => {
  it('accepts the protocol\u2019s messages and refuses others', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'ready', page: 'run' }), { type: 'ready', page: 'run' });
    assert.ok('invalid' in parseWebviewMessage({ type: 'ready', page: 'other' }));
    assert.ok('invalid' in parseWebviewMessage({ type: 'runCommand', command: 'rm -rf' }));
    assert.ok('invalid' in parseWebviewMessage('ready'));
    const save = { type: 'save', requestId: 'save-1', format: 'csv', chart: 'accuracy-reasoning', fileName: 'a.csv', content: 'x' };
    assert.deepEqual(parseWebviewMessage(save), save);
    assert.ok('invalid' in parseWebviewMessage({ ...save, format: 'exe' }));
    assert.ok('invalid' in parseWebviewMessage({ ...save, content: 'x'.repeat(MAX_EXPORT_CHARS + 1) }));
  });

  it('export names keep only a file name with the format\u2019s extension', () => {
    assert.equal(exportFileName('../../../etc/passwd', 'png'), 'passwd.png');
    assert.equal(exportFileName('C:\\Users\\x\\run.csv', 'csv'), 'run.csv');
    assert.equal(exportFileName('.bashrc', 'csv'), 'bashrc.csv');
    assert.equal(exportFileName('a b;c.png', 'png'), 'a_b_c.png');
  });

  it('a PNG export must be a PNG; a CSV export is its UTF-8 text', () => {
    assert.throws(() => exportBytes({ format: 'png', content: Buffer.from('GIF89a....').toString('base64') }), /not a PNG/);
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    assert.deepEqual(Buffer.from(exportBytes({ format: 'png', content: png.toString('base64') })), png);
    assert.deepEqual(Buffer.from(exportBytes({ format: 'csv', content: 'α,β\r\n' })), Buffer.from('α,β\r\n', 'utf8'));
  });
});

describe('chart files', () => {
  it('run files pass; other LayerLab files and damaged JSON are refused, naming file and field', () => {
    const f = writeRun('ok.sweep.json');
    assert.equal(parseRunFile(fs.readFileSync(f, 'utf8'), f).run.results.length, fixtureRun().results.length);
    assert.throws(() => parseRunFile(JSON.stringify(fixtureDirections()), '/x/d.json'), /d\.json is a directions statistics file/);
    assert.throws(() => parseRunFile('{"format": "layerlab-run", "ver', '/x/cut.json'), (e: unknown) => e instanceof ChartFileError && /cut\.json is not valid JSON/.test(e.message));
    const broken = fixtureRun();
    (broken.results[1]!.summary.reasoning as { correct: unknown }).correct = 'seven';
    assert.throws(() => parseRunFile(JSON.stringify(broken), '/x/b.json'), /b\.json: field results\.1\.summary\.reasoning\.correct/);
  });

  it('direction statistics with NaN written as null pass; the format decides the page', () => {
    const s = fixtureDirections();
    const text = JSON.stringify({ ...s, layers: s.layers.map((l) => ({ ...l, heldOut: { ...l.heldOut!, auc: NaN } })) });
    assert.equal(parseDirectionStats(text, '/x/s.json').stats.layers[0]!.heldOut!.auc, null);
    assert.equal(chartKindOf(text), 'directions');
    assert.equal(chartKindOf(JSON.stringify(fixtureRun(), null, 1)), 'run');
    assert.equal(chartKindOf('{"format": "layerlab-demo-generations"}'), null);
  });
});

describe('panel host', () => {
  it('posts nothing before the page is ready, then the run; queued updates are superseded by a fresh ready', async () => {
    const f = writeRun('a.sweep.json');
    const p = await charts.openRunChart(f);
    assert.equal(stub.panels.at(-1)!.viewType, CHART_VIEW_TYPES.run);
    assert.deepEqual(sentTypes(p), [], 'nothing before ready');
    receive(p, { type: 'ready', page: 'run' });
    await settle();
    assert.deepEqual(sentTypes(p), ['showRun']);

    // Hidden: its document is gone, so a file change must not be posted into the void.
    const panel = p.panel as unknown as FakePanel;
    panel.setVisible(false);
    fs.writeFileSync(f, JSON.stringify(fixtureRun({ seed: 9 })));
    assert.equal(stub.fileChanged(f), 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(sentTypes(p), ['showRun'], 'not posted while hidden');
    panel.setVisible(true);
    receive(p, { type: 'ready', page: 'run' });
    await settle();
    assert.deepEqual(sentTypes(p), ['showRun', 'showRun'], 'the new document gets the whole file, once');
    const last = panel.webview.sent.at(-1) as { run: { run: { results: { summary: unknown }[] } } };
    assert.deepEqual(last.run.run.results[1]!.summary, fixtureRun({ seed: 9 }).results[1]!.summary, 'read from disk again');
  });

  it('logs and drops invalid messages from the page', async () => {
    const p = await charts.openRunChart(writeRun('b.sweep.json'));
    receive(p, { type: 'openExternal', url: 'https://example.com' });
    await settle();
    assert.match(logs.join('\n'), /ignored an invalid message from the page \(openExternal/);
    assert.deepEqual(sentTypes(p), []);
  });

  it('saves an export where the user says, and tells the page; a refused PNG is reported', async () => {
    const f = writeRun('c.sweep.json');
    const p = await charts.openRunChart(f);
    receive(p, { type: 'ready', page: 'run' });
    const target = path.join(dir, 'out', 'x.csv');
    stub.saveAnswers.push(Uri.file(target));
    receive(p, { type: 'save', requestId: 'save-1', format: 'csv', chart: 'accuracy-reasoning', fileName: '../x.csv', content: 'a,b\r\n1,2\r\n' });
    await settle();
    assert.equal(fs.readFileSync(target, 'utf8'), 'a,b\r\n1,2\r\n');
    assert.equal(stub.saveDialogs[0]!.defaultUri!.fsPath, path.join(path.dirname(f), 'x.csv'));
    const sent = (p.panel as unknown as FakePanel).webview.sent as { type: string; requestId?: string; path?: string | null; error?: string }[];
    assert.deepEqual(sent.at(-1), { type: 'saved', requestId: 'save-1', path: target });
    receive(p, { type: 'save', requestId: 'save-2', format: 'png', chart: 'x', fileName: 'x.png', content: Buffer.from('nope').toString('base64') });
    await settle();
    assert.equal(sent.at(-1)!.requestId, 'save-2');
    assert.equal(sent.at(-1)!.path, null);
    assert.match(sent.at(-1)!.error!, /not a PNG/);
    assert.equal(stub.messages.at(-1)!.severity, 'error');
  });

  it('opening a shown file reveals its panel; a file that is not a run is refused before a panel opens', async () => {
    const f = writeRun('d.sweep.json');
    const p = await charts.openRunChart(f);
    const again = await charts.openRunChart(f);
    assert.equal(again, p);
    assert.equal((p.panel as unknown as FakePanel).reveals, 1);
    const n = stub.panels.length;
    const statsFile = path.join(dir, 'stats.json');
    fs.writeFileSync(statsFile, JSON.stringify(fixtureDirections()));
    await assert.rejects(charts.openRunChart(statsFile), /directions statistics file/);
    assert.equal(stub.panels.length, n);
    const d = await charts.openDirectionChart(statsFile);
    assert.equal(d.page, 'directions');
  });

  it('the serializer restores a panel from its page state, and closes one with no state', async () => {
    const f = writeRun('e.sweep.json');
    const g = writeRun('f.sweep.json', fixtureRun({ seed: 4 }));
    const panel = stubWindow.createWebviewPanel(CHART_VIEW_TYPES.run, 'Run', {}, {});
    await stub.serializers.get(CHART_VIEW_TYPES.run)!.deserializeWebviewPanel(panel, { page: 'run', runPath: f, comparePath: g, ui: { tab: 'heatmap', drill: null, tables: [] } });
    const p = charts.panels().find((x) => x.panel === (panel as unknown)) as RunChartPanel;
    assert.equal(p.runPath, f);
    assert.equal(p.compare, g);
    assert.deepEqual(panel.webview.options.localResourceRoots!.map((u) => u.fsPath), [path.join(ROOT, 'dist', 'webview')]);
    receive(p, { type: 'ready', page: 'run' });
    await settle();
    const shown = panel.webview.sent[0] as { type: string; run: { path: string }; compare: { path: string } };
    assert.deepEqual([shown.type, shown.run.path, shown.compare.path], ['showRun', f, g]);

    const empty = stubWindow.createWebviewPanel(CHART_VIEW_TYPES.run, 'Run', {}, {});
    await stub.serializers.get(CHART_VIEW_TYPES.run)!.deserializeWebviewPanel(empty, undefined);
    assert.equal(empty.disposed, true);
  });
});
