// Enforces DESIGN.md's layering: which top-level folder may import which, and that
// runtime/ort/session.ts is the only importer of onnxruntime-node.
//
// models/common/ is the one exception to "datasets imports only datasets": it holds leaf helpers
// every folder needs one definition of (the seeded PRNG, atomic file writes, output locks), and
// it may import nothing of LayerLab itself, so datasets → models/common adds no dependency on
// models' checkpoint or graph code.
import * as fs from 'node:fs';
import * as path from 'node:path';

const COMMON = 'models/common';
const ALLOWED = {
  [COMMON]: [COMMON],
  models: ['models'],
  datasets: ['datasets', COMMON],
  runtime: ['runtime', 'models', 'datasets'],
  extension: ['extension', 'runtime/protocol'],
  webview: ['webview', 'runtime/protocol'],
};
const PROTOCOL = 'runtime/protocol';
const problems = [];
for (const top of Object.keys(ALLOWED)) {
  if (top === COMMON || !fs.existsSync(top)) continue;
  for (const rel of fs.readdirSync(top, { recursive: true })) {
    const file = path.join(top, String(rel));
    if (!file.endsWith('.ts')) continue;
    const src = fs.readFileSync(file, 'utf8');
    // A file under models/common answers to the stricter models/common rule.
    const rule = file.startsWith(COMMON + path.sep) ? COMMON : top;
    for (const m of src.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|require\(['"]([^'"]+)['"]\)/g)) {
      const spec = m[1] ?? m[2];
      if (spec === 'onnxruntime-node' && file !== path.join('runtime', 'ort', 'session.ts')) {
        problems.push(`${file}: only runtime/ort/session.ts may import onnxruntime-node`);
      }
      if (file.startsWith(PROTOCOL) && (spec === 'vscode' || spec.startsWith('node:'))) {
        problems.push(`${file}: runtime/protocol must stay free of vscode and Node imports (${spec})`);
      }
      if (!spec.startsWith('.')) continue;
      const target = path.relative('.', path.resolve(path.dirname(file), spec));
      const targetTop = target.split(path.sep)[0];
      if (!(targetTop in ALLOWED)) continue;
      const ok = ALLOWED[rule].some((a) => target === a || target.startsWith(a + path.sep) || target.startsWith(a + '/'));
      if (!ok) problems.push(`${file}: may not import ${target} (allowed: ${ALLOWED[rule].join(', ')})`);
    }
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('import layering: ok');
