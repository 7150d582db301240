/**
 * Annotations in the editor: `LayerLab: Open Annotations` shows the chains of an annotations file
 * as a read-only document (scheme `layerlab-annotations`), each span underlined in its
 * behaviour's theme colour with a hover naming it; on a span, a quick fix relabels it or removes
 * it, and the annotations file is rewritten at once (atomically, after the same checks the
 * runtime makes), and the view redrawn. An edit to the file from elsewhere redraws it too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { BEHAVIOUR_COLORS, BEHAVIOURS, type Behaviour, type Chain } from '../../runtime/protocol/thinking';
import { chainsFileOf, describeSpan, editAnnotations, loadAnnotated, type AnnotatedDocument, type SpanEdit, type SpanRange } from './annotationDocument';

export const ANNOTATIONS_SCHEME = 'layerlab-annotations';
/** Run by the quick fixes (THINKING_INTERNAL_COMMANDS in ./commands.ts). */
export const EDIT_SPAN_COMMAND = 'layerlab.editSpan';

interface Shown {
  file: string;
  chainsFile: string;
  chains: Chain[];
  doc: AnnotatedDocument;
}

/** The read-only document of an annotations file. */
export function annotationsUri(file: string): vscode.Uri {
  return vscode.Uri.from({ scheme: ANNOTATIONS_SCHEME, path: `/${path.basename(file)}.txt`, query: encodeURIComponent(path.resolve(file)) });
}

function fileOf(uri: vscode.Uri): string {
  return decodeURIComponent(uri.query);
}

/** Replaces `file` atomically: a crash never leaves a half-written annotations file. */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.partial-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export class AnnotationsView implements vscode.Disposable {
  private readonly shown = new Map<string, Shown>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly types: Map<Behaviour, vscode.TextEditorDecorationType>;
  private readonly watchers = new Map<string, vscode.Disposable>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly log: (level: 'info' | 'warn' | 'error', message: string) => void) {
    this.types = new Map(
      BEHAVIOURS.map((b) => [
        b,
        vscode.window.createTextEditorDecorationType({
          borderWidth: '0 0 2px 0',
          borderStyle: 'solid',
          borderColor: new vscode.ThemeColor(BEHAVIOUR_COLORS[b]),
          overviewRulerColor: new vscode.ThemeColor(BEHAVIOUR_COLORS[b]),
          overviewRulerLane: vscode.OverviewRulerLane.Right,
        }),
      ]),
    );
  }

  register(): vscode.Disposable[] {
    const selector = { scheme: ANNOTATIONS_SCHEME };
    return [
      this,
      vscode.workspace.registerTextDocumentContentProvider(ANNOTATIONS_SCHEME, { onDidChange: this.changed.event, provideTextDocumentContent: (uri) => this.content(uri) }),
      vscode.languages.registerHoverProvider(selector, { provideHover: (doc, pos) => this.hover(doc, pos) }),
      vscode.languages.registerCodeActionsProvider(selector, { provideCodeActions: (doc, range) => this.codeActions(doc, range) }, { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] }),
      vscode.commands.registerCommand(EDIT_SPAN_COMMAND, (uri: string, target: SpanRange, edit: SpanEdit) => this.edit(uri, target, edit)),
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => this.decorate(e))),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.scheme !== ANNOTATIONS_SCHEME) return;
        for (const ed of vscode.window.visibleTextEditors) if (ed.document.uri.toString() === e.document.uri.toString()) this.decorate(ed);
      }),
    ];
  }

  /** Opens the annotations file's document beside the current editor. */
  async open(file: string): Promise<vscode.TextEditor> {
    const uri = annotationsUri(file);
    this.load(uri); // fails here, with the file and line, rather than in an empty editor
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    this.decorate(editor);
    return editor;
  }

  /** What a document shows (for tests and the quick fixes). */
  state(uri: vscode.Uri): Shown | undefined {
    return this.shown.get(uri.toString());
  }

  private load(uri: vscode.Uri): Shown {
    const file = fileOf(uri);
    const text = fs.readFileSync(file, 'utf8');
    const chainsFile = chainsFileOf(text) ?? file.replace(/\.annotations\.[\w-]+\.jsonl$/, '.chains.jsonl');
    const { chains, doc } = loadAnnotated(text, file, fs.readFileSync(chainsFile, 'utf8'), chainsFile);
    const s: Shown = { file, chainsFile, chains, doc };
    this.shown.set(uri.toString(), s);
    if (!this.watchers.has(file)) {
      const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(file)), path.basename(file)));
      const fire = () => this.changed.fire(uri);
      w.onDidChange(fire);
      w.onDidCreate(fire);
      this.watchers.set(file, w);
    }
    return s;
  }

  private content(uri: vscode.Uri): string {
    try {
      return this.load(uri).doc.text;
    } catch (e) {
      this.log('error', `annotations: ${(e as Error).message}`);
      return `LayerLab cannot show these annotations:\n${(e as Error).message}\n`;
    }
  }

  decorate(editor: vscode.TextEditor): void {
    const s = this.shown.get(editor.document.uri.toString());
    if (!s) return;
    for (const [b, type] of this.types) {
      const ranges = s.doc.ranges.filter((r) => r.category === b).map((r) => new vscode.Range(editor.document.positionAt(r.start), editor.document.positionAt(r.end)));
      editor.setDecorations(type, ranges);
    }
  }

  private spansAt(doc: vscode.TextDocument, range: vscode.Range): SpanRange[] {
    const s = this.shown.get(doc.uri.toString());
    if (!s) return [];
    const a = doc.offsetAt(range.start);
    const b = doc.offsetAt(range.end);
    return s.doc.ranges.filter((r) => r.start <= Math.max(a, b) && a <= r.end && (a !== b || a < r.end));
  }

  private hover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const s = this.shown.get(doc.uri.toString());
    const spans = this.spansAt(doc, new vscode.Range(pos, pos));
    if (!s || !spans.length) return undefined;
    return new vscode.Hover(spans.map((r) => new vscode.MarkdownString(describeSpan(r, path.basename(s.file)))));
  }

  /** Relabel (as each other behaviour) or remove every span under the cursor or selection. */
  codeActions(doc: vscode.TextDocument, range: vscode.Range): vscode.CodeAction[] {
    const uri = doc.uri.toString();
    return this.spansAt(doc, range).flatMap((r) => {
      const act = (title: string, edit: SpanEdit) => {
        const a = new vscode.CodeAction(title, vscode.CodeActionKind.QuickFix);
        a.command = { command: EDIT_SPAN_COMMAND, title, arguments: [uri, r, edit] };
        return a;
      };
      return [
        ...BEHAVIOURS.filter((b) => b !== r.category).map((b) => act(`Relabel ${r.category} span as ${b}`, { kind: 'relabel', category: b })),
        act(`Remove this ${r.category} span`, { kind: 'remove' }),
      ];
    });
  }

  /** Rewrites the annotations file with one span relabelled or removed, then redraws. */
  async edit(uriString: string, target: SpanRange, edit: SpanEdit): Promise<void> {
    const s = this.shown.get(uriString);
    if (!s) throw new Error('these annotations are not open any more');
    try {
      const next = editAnnotations(fs.readFileSync(s.file, 'utf8'), s.file, s.chains, target, edit);
      writeAtomic(s.file, next);
      this.log('info', `annotations: ${edit.kind === 'remove' ? 'removed' : `relabelled as ${edit.category}`} the ${target.category} span of line ${target.line} in ${s.file}`);
    } catch (e) {
      void vscode.window.showErrorMessage(`LayerLab: ${(e as Error).message}`);
      return;
    }
    const uri = vscode.Uri.parse(uriString);
    this.load(uri);
    this.changed.fire(uri);
    for (const ed of vscode.window.visibleTextEditors) if (ed.document.uri.toString() === uriString) this.decorate(ed);
  }

  dispose(): void {
    for (const t of this.types.values()) t.dispose();
    for (const w of this.watchers.values()) w.dispose();
    for (const d of this.disposables) d.dispose();
    this.changed.dispose();
  }
}
