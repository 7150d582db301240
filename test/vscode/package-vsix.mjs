// Packages LayerLab as a per-target VSIX (DESIGN.md convention 7): the esbuild bundles plus
// onnxruntime-node pruned to the target platform's native binaries, checked after packaging.
//
//   node test/vscode/package-vsix.mjs [--target linux-x64] [--out FILE.vsix]
//
// Prints the VSIX path and size; the code-server harness calls packageVsix() directly.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

/** vsce targets → onnxruntime-node's bin/napi-v6/<platform>/<arch>. */
const TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};
const PLATFORM_LINE = /^!node_modules\/onnxruntime-node\/bin\/napi-v6\/[^/]+\/[^/]+\/\*\*$/m;

/** .vscodeignore with its native-binaries line pointing at `target`. */
export function ignoreFileFor(target) {
  const dir = TARGETS[target];
  if (!dir) throw new Error(`unknown target '${target}': one of ${Object.keys(TARGETS).join(', ')}`);
  const text = fs.readFileSync(path.join(REPO, '.vscodeignore'), 'utf8');
  if (!PLATFORM_LINE.test(text)) throw new Error('.vscodeignore has no onnxruntime-node binaries line to retarget');
  return text.replace(PLATFORM_LINE, `!node_modules/onnxruntime-node/bin/napi-v6/${dir}/**`);
}

/** File names inside a VSIX (a zip), read with yauzl, the reader vsce itself uses. */
export async function vsixEntries(file) {
  const yauzl = createRequire(require.resolve('@vscode/vsce/package.json'))('yauzl');
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names = [];
      zip.on('entry', (e) => {
        names.push(e.fileName);
        zip.readEntry();
      });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

export async function packageVsix({ target = 'linux-x64', out } = {}) {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const outFile = path.resolve(out ?? path.join(REPO, 'test-output', 'vscode', `${pkg.name}-${pkg.version}-${target}.vsix`));
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const ignore = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'layerlab-vsce-')), '.vscodeignore');
  fs.writeFileSync(ignore, ignoreFileFor(target));
  const vsce = path.join(path.dirname(require.resolve('@vscode/vsce/package.json')), 'vsce');
  // vsce runs the `vscode:prepublish` script (the esbuild build) first. No LICENSE or
  // repository yet: say so rather than answer vsce's interactive questions. Without a repository
  // vsce cannot rewrite the README's relative image link, so it is kept relative (the image is in
  // the VSIX, where the extension's details page finds it).
  const r = spawnSync(process.execPath, [vsce, 'package', '--target', target, '--out', outFile, '--ignoreFile', ignore, '--skip-license', '--allow-missing-repository', '--no-rewrite-relative-links'], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  fs.rmSync(path.dirname(ignore), { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`vsce package failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);

  const entries = await vsixEntries(outFile);
  const dir = TARGETS[target];
  const need = [
    'extension/package.json',
    'extension/dist/extension.js',
    'extension/dist/runtime.js',
    'extension/dist/webview/main.js',
    'extension/dist/webview/style.css',
    'extension/dist/webview/codicon.css',
    'extension/dist/webview/codicon.ttf',
    'extension/extension/media/layerlab.svg',
    'extension/docs/demo-chart.png',
    'extension/models/organism/model.safetensors',
    'extension/models/organism/manifest.json',
    'extension/node_modules/onnxruntime-node/dist/index.js',
    `extension/node_modules/onnxruntime-node/bin/napi-v6/${dir}/onnxruntime_binding.node`,
    'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
    // The walkthrough's pages, as package.json names them.
    ...JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).contributes.walkthroughs.flatMap((w) => w.steps.map((s) => `extension/${s.media.markdown}`)),
  ];
  const missing = need.filter((n) => !entries.includes(n));
  const otherPlatforms = entries.filter((e) => e.includes('/onnxruntime-node/bin/') && !e.includes(`/napi-v6/${dir}/`));
  // Bundling makes every other dependency unnecessary at run time: any other node_modules file
  // means .vscodeignore let something through that only bloats the VSIX.
  const strays = entries.filter((e) => e.startsWith('extension/node_modules/') && !/^extension\/node_modules\/onnxruntime-(node|common)\//.test(e));
  if (missing.length || otherPlatforms.length || strays.length) {
    throw new Error(
      `${outFile} is not what it should be:` +
        (missing.length ? `\n  missing: ${missing.join(', ')}` : '') +
        (otherPlatforms.length ? `\n  other platforms' binaries: ${otherPlatforms.slice(0, 5).join(', ')}` : '') +
        (strays.length ? `\n  node_modules beyond onnxruntime-node: ${strays.slice(0, 10).join(', ')}` : ''),
    );
  }
  return { file: outFile, bytes: fs.statSync(outFile).size, entries: entries.length, vsceOutput: r.stdout };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { target: { type: 'string', default: 'linux-x64' }, out: { type: 'string' } } });
  packageVsix(values).then(
    (r) => console.log(`${r.file}: ${(r.bytes / 1e6).toFixed(1)} MB, ${r.entries} entries`),
    (e) => {
      console.error(`package-vsix: ${e.message}`);
      process.exit(1);
    },
  );
}
