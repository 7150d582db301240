// Compiles the VS Code test suite (test/vscode/suite/*.ts) to dist-test/suite/*.js, one file per
// module, not bundled: mocha's runner adds the *.test.js files itself, and `vscode` and `mocha`
// resolve at run time (vscode from the editor, mocha from this repository's node_modules).
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SUITE_DIR = path.join(REPO, 'dist-test', 'suite');
export const SUITE_INDEX = path.join(SUITE_DIR, 'index.js');

export async function buildSuite() {
  const src = path.join(REPO, 'test', 'vscode', 'suite');
  fs.rmSync(SUITE_DIR, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: fs.readdirSync(src).filter((f) => f.endsWith('.ts')).map((f) => path.join(src, f)),
    outdir: SUITE_DIR,
    bundle: false,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return SUITE_INDEX;
}
