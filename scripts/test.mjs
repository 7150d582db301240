// Runs the test tiers with node's test runner (through tsx for TypeScript).
//   node scripts/test.mjs            unit + integration + webview
//   node scripts/test.mjs unit       unit only
//   node scripts/test.mjs webview    chart pages in headless Debian chromium (they build dist/ first)
// Tests that need ../shared/data skip themselves with a one-line reason when it is absent; the
// webview tier skips with one when /usr/bin/chromium is absent.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const tiers = process.argv.slice(2);
const wanted = tiers.length ? tiers : ['unit', 'integration', 'webview'];
const files = [];
for (const tier of wanted) {
  const dir = path.join('test', tier);
  if (!fs.existsSync(dir)) continue;
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    if (String(f).endsWith('.test.ts')) files.push(path.join(dir, String(f)));
  }
}
if (files.length === 0) {
  console.error(`no test files in ${wanted.join(', ')}`);
  process.exit(1);
}
files.sort();
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } },
);
process.exit(r.status ?? 1);
