// Enforces DESIGN.md's layering: which top-level folder may import which, which runtime
// sub-folders may not import each other (the job flow is protocol → handler → engines, with the
// CLI and the server as two faces that never import one another), and that
// runtime/ort/session.ts is the only importer of onnxruntime-node, and that the reference forward
// passes (runtime/reference) import nothing of the graph builders or the runtime.
//
// models/common/ is the one exception to "datasets imports only datasets": it holds leaf helpers
// every folder needs one definition of (the seeded PRNG, atomic file writes, output locks), and
// it may import nothing of LayerLab itself, so datasets → models/common adds no dependency on
// models' checkpoint or graph code.
//
//   node scripts/check-imports.mjs [ROOT]     (ROOT: the checkout to check, default the cwd)
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(process.argv[2] ?? '.');
const COMMON = 'models/common';
const ALLOWED = {
  [COMMON]: [COMMON],
  models: ['models'],
  datasets: ['datasets', COMMON],
  runtime: ['runtime', 'models', 'datasets'],
  extension: ['extension', 'runtime/protocol'],
  webview: ['webview', 'runtime/protocol'],
};
/** Inside runtime/: [importer folder, folders it must not import, why]. */
const FORBIDDEN = [
  ['runtime/server', ['runtime/cli'], 'the server and the CLI are two faces of the same jobs (runtime/jobs)'],
  ['runtime/cli', ['runtime/server'], 'the server and the CLI are two faces of the same jobs (runtime/jobs)'],
  ['runtime/jobs', ['runtime/cli', 'runtime/server'], 'handlers serve both faces, so they know neither'],
  ['runtime/protocol', ['runtime/cli', 'runtime/server', 'runtime/jobs'], 'the protocol is shared with the extension and webviews'],
];
const PROTOCOL = 'runtime/protocol';
const under = (p, folder) => p === folder || p.startsWith(folder + '/');
const REFERENCE = 'runtime/reference';
const problems = [];
for (const top of Object.keys(ALLOWED)) {
  const topDir = path.join(root, top);
  if (top === COMMON || !fs.existsSync(topDir)) continue;
  for (const rel of fs.readdirSync(topDir, { recursive: true })) {
    const file = path.join(top, String(rel)).split(path.sep).join('/');
    if (!file.endsWith('.ts')) continue;
    const src = fs.readFileSync(path.join(root, file), 'utf8');
    // A file under models/common answers to the stricter models/common rule.
    const allowed = ALLOWED[under(file, COMMON) ? COMMON : top];
    for (const m of src.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|^import\s+['"]([^'"]+)['"]|require\(['"]([^'"]+)['"]\)|import\(['"]([^'"]+)['"]\)/gm)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
      if (spec === 'onnxruntime-node' && file !== 'runtime/ort/session.ts') {
        problems.push(`${file}: only runtime/ort/session.ts may import onnxruntime-node`);
      }
      if (under(file, PROTOCOL) && (spec === 'vscode' || spec.startsWith('node:'))) {
        problems.push(`${file}: runtime/protocol must stay free of vscode and Node imports (${spec})`);
      }
      if (!spec.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const targetTop = target.split('/')[0];
      // The reference forward passes are the oracle the graphs are checked against: they must not
      // share code with the graph builders or the runtime that runs them.
      if (under(file, REFERENCE) && (under(target, 'models/graph') || (under(target, 'runtime') && !under(target, REFERENCE)))) {
        problems.push(`${file}: the reference forward may not import ${target} (only checkpoint readers)`);
      }
      if (!(targetTop in ALLOWED)) continue;
      if (!allowed.some((a) => under(target, a))) problems.push(`${file}: may not import ${target} (allowed: ${allowed.join(', ')})`);
      for (const [from, banned, why] of FORBIDDEN) {
        if (!under(file, from)) continue;
        for (const b of banned) if (under(target, b)) problems.push(`${file}: may not import ${target}: ${from} never imports ${b} (${why})`);
      }
    }
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('import layering: ok');
