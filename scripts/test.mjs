// Runs the test tiers: unit, integration and webview with node's test runner (through tsx for
// TypeScript), then the extension in a real VS Code (test/vscode/run-code-server.mjs).
//   node scripts/test.mjs              every tier this machine can run (what `npm test` runs)
//   node scripts/test.mjs unit         one or more tiers by name: unit integration webview vscode
// The webview tier runs on Debian's chromium, or else on the Chromium the @sparticuz/chromium dev
// dependency ships (so `npm ci` is enough). The vscode tier needs Debian packages (chromium for
// the browser, libkrb5-dev and ripgrep for code-server); without them it is skipped, and the run
// ends with one line naming the skipped tiers and the command that installs what they need.
// Tests that need ../shared/data skip themselves with a one-line reason when it is absent.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const NODE_TIERS = ['unit', 'integration', 'webview'];
const ALL = [...NODE_TIERS, 'vscode'];
const asked = process.argv.slice(2);
for (const t of asked) {
  if (!ALL.includes(t)) {
    console.error(`unknown tier '${t}' (tiers: ${ALL.join(', ')})`);
    process.exit(2);
  }
}
const wanted = asked.length ? asked : ALL;
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };

/** What the vscode tier lacks on this machine (Debian package names), empty when it can run. */
function vscodeTierMissing() {
  const missing = [];
  if (!fs.existsSync('/usr/bin/chromium')) missing.push('chromium');
  // code-server builds kerberos from source, and its ripgrep download is replaced by Debian's.
  if (!fs.existsSync('/usr/include/krb5.h') && !fs.existsSync('/usr/include/krb5/krb5.h')) missing.push('libkrb5-dev');
  if (spawnSync('rg', ['--version']).status !== 0) missing.push('ripgrep');
  return missing;
}

let status = 0;
const skipped = [];

const files = [];
for (const tier of wanted.filter((t) => NODE_TIERS.includes(t))) {
  const dir = path.join('test', tier);
  if (!fs.existsSync(dir)) continue;
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    if (String(f).endsWith('.test.ts')) files.push(path.join(dir, String(f)));
  }
}
if (files.length) {
  files.sort();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', env });
  status = r.status ?? 1;
} else if (wanted.some((t) => NODE_TIERS.includes(t))) {
  console.error(`no test files in ${wanted.join(', ')}`);
  status = 1;
}

if (wanted.includes('vscode')) {
  const missing = vscodeTierMissing();
  if (missing.length) {
    skipped.push({ tier: 'vscode', missing });
  } else {
    const r = spawnSync(process.execPath, ['test/vscode/run-code-server.mjs'], { stdio: 'inherit', env });
    if ((r.status ?? 1) !== 0) status = status || (r.status ?? 1);
  }
}

if (skipped.length) {
  const packages = [...new Set(skipped.flatMap((s) => s.missing))];
  console.log(`skipped tiers: ${skipped.map((s) => `${s.tier} (needs ${s.missing.join(', ')})`).join('; ')}; enable with: apt-get install -y ${packages.join(' ')} (or bash .ci/apt)`);
}
process.exit(status);
