// Bundles LayerLab with esbuild: the CLI/runtime process, the extension, the webview pages and
// the benchmarks. onnxruntime-node stays external (native code, shipped per platform) and so
// does vscode (provided by the editor).
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';

const watch = process.argv.includes('--watch');
const common = {
  bundle: true,
  sourcemap: true,
  logLevel: 'warning',
  legalComments: 'none',
};
const node = {
  ...common,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['onnxruntime-node', 'vscode'],
};

// onnxruntime-node 1.30 segfaults when it creates a session in a process whose command line is
// 32 KB or longer while its telemetry is on (a long --prompt is enough; exit 139, no message).
// Every bundle that may load it turns telemetry off before anything else runs, unless the user
// set the variable; ENVIRONMENT.md: it also stops a telemetry database appearing under ~/.cache.
// (Strict mode is declared first: a directive after a statement would be ignored.)
const ORT_ENV = "'use strict';\nprocess.env.ORT_DISABLE_TELEMETRY ??= '1';";

const entries = [
  { ...node, entryPoints: ['runtime/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: `#!/usr/bin/env node\n${ORT_ENV}` } },
];
if (fs.existsSync('runtime/server/main.ts')) entries.push({ ...node, entryPoints: ['runtime/server/main.ts'], outfile: 'dist/runtime.js', banner: { js: ORT_ENV } });
if (fs.existsSync('extension/extension.ts')) entries.push({ ...node, entryPoints: ['extension/extension.ts'], outfile: 'dist/extension.js' });
if (fs.existsSync('bench/main.ts')) entries.push({ ...node, entryPoints: ['bench/main.ts'], outfile: 'dist/bench.js', banner: { js: ORT_ENV } });
if (fs.existsSync('webview/main.ts')) {
  entries.push({ ...common, platform: 'browser', target: 'es2022', format: 'iife', entryPoints: ['webview/main.ts'], outfile: 'dist/webview/main.js' });
}
// The reasoning-behaviour pages (extension/thinking/panels.ts): a bundle of their own.
if (fs.existsSync('webview/thinking/main.ts')) {
  entries.push({ ...common, platform: 'browser', target: 'es2022', format: 'iife', entryPoints: ['webview/thinking/main.ts'], outfile: 'dist/webview/thinking.js' });
}
if (fs.existsSync('webview/style.css')) {
  entries.push({ ...common, sourcemap: false, entryPoints: ['webview/style.css'], outfile: 'dist/webview/style.css' });
}
// Codicons (for @vscode-elements icons) are served from dist/webview, the only folder a chart
// panel may load from (its localResourceRoots); vscode-icon links the stylesheet by its id.
if (fs.existsSync('webview/main.ts')) {
  fs.mkdirSync('dist/webview', { recursive: true });
  for (const f of ['codicon.css', 'codicon.ttf']) fs.copyFileSync(`node_modules/@vscode/codicons/dist/${f}`, `dist/webview/${f}`);
}

if (watch) {
  for (const e of entries) await (await esbuild.context(e)).watch();
} else {
  await Promise.all(entries.map((e) => esbuild.build(e)));
  fs.chmodSync('dist/cli.js', 0o755);
}
