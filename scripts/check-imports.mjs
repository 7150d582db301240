// Enforces DESIGN.md's layering: which top-level folder may import which, that
// runtime/ort/session.ts is the only importer of onnxruntime-node, and that the reference forward
// passes (runtime/reference) import nothing of the graph builders or the runtime.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ALLOWED = {
  models: ['models'],
  datasets: ['datasets'],
  runtime: ['runtime', 'models', 'datasets'],
  extension: ['extension', 'runtime/protocol'],
  webview: ['webview', 'runtime/protocol'],
};
const PROTOCOL = 'runtime/protocol';
const REFERENCE = path.join('runtime', 'reference');
const problems = [];
for (const [top, allowed] of Object.entries(ALLOWED)) {
  if (!fs.existsSync(top)) continue;
  for (const rel of fs.readdirSync(top, { recursive: true })) {
    const file = path.join(top, String(rel));
    if (!file.endsWith('.ts')) continue;
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|^import\s+['"]([^'"]+)['"]|require\(['"]([^'"]+)['"]\)/gm)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec === 'onnxruntime-node' && file !== path.join('runtime', 'ort', 'session.ts')) {
        problems.push(`${file}: only runtime/ort/session.ts may import onnxruntime-node`);
      }
      if (file.startsWith(PROTOCOL) && (spec === 'vscode' || spec.startsWith('node:'))) {
        problems.push(`${file}: runtime/protocol must stay free of vscode and Node imports (${spec})`);
      }
      if (!spec.startsWith('.')) continue;
      const target = path.relative('.', path.resolve(path.dirname(file), spec));
      // The reference forward passes are the oracle the graphs are checked against: they must not
      // share code with the graph builders or the runtime that runs them.
      if (file.startsWith(REFERENCE) && (target.startsWith(path.join('models', 'graph')) || (target.startsWith('runtime') && !target.startsWith(REFERENCE)))) {
        problems.push(`${file}: the reference forward may not import ${target} (only checkpoint readers)`);
      }
      const targetTop = target.split(path.sep)[0];
      if (!(targetTop in ALLOWED)) continue;
      const ok = allowed.some((a) => target === a || target.startsWith(a + path.sep) || target.startsWith(a + '/'));
      if (!ok) problems.push(`${file}: may not import ${target} (allowed: ${allowed.join(', ')})`);
    }
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('import layering: ok');
