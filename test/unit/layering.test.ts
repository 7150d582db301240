// The layering check (scripts/check-imports.mjs, part of `npm run lint`) on the real tree and on
// small trees that break one rule each: it must fail on each, naming the file and the rule.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const check = (root: string) => spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'check-imports.mjs'), root], { encoding: 'utf8' });

function tree(files: Record<string, string>): string {
  const dir = tmpDir('layerlab-layering-');
  for (const [f, src] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), src);
  }
  return dir;
}

describe('import layering', () => {
  it('the project follows it', () => {
    const r = check(ROOT);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /import layering: ok/);
  });

  it('fails on a runtime/server → runtime/cli import, and on each other broken rule', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'runtime/server/x.ts': "import { main } from '../cli/main';\n", 'runtime/cli/main.ts': 'export const main = 1;\n' }, /runtime\/server\/x\.ts: may not import runtime\/cli\/main: runtime\/server never imports runtime\/cli/],
      [{ 'runtime/cli/x.ts': "export { RuntimeServer } from '../server/server';\n", 'runtime/server/server.ts': '' }, /runtime\/cli\/x\.ts: may not import runtime\/server\/server/],
      [{ 'runtime/jobs/x.ts': "import '../cli/print';\nimport { a } from '../cli/print';\n", 'runtime/cli/print.ts': '' }, /runtime\/jobs\/x\.ts: may not import runtime\/cli\/print/],
      [{ 'runtime/protocol/x.ts': "import * as fs from 'node:fs';\n" }, /runtime\/protocol must stay free of vscode and Node imports \(node:fs\)/],
      [{ 'extension/x.ts': "import { openModel } from '../runtime/openModel';\n" }, /extension\/x\.ts: may not import runtime\/openModel \(allowed: extension, runtime\/protocol\)/],
      [{ 'models/x.ts': "import * as ort from 'onnxruntime-node';\n" }, /only runtime\/ort\/session\.ts may import onnxruntime-node/],
    ];
    for (const [files, re] of cases) {
      const r = check(tree(files));
      assert.equal(r.status, 1, `${Object.keys(files)[0]} passed the check`);
      assert.match(r.stderr, re);
    }
  });

  it('datasets may import models/common, models/common only itself', () => {
    const ok = check(tree({
      'datasets/sample.ts': "import { mulberry32 } from '../models/common/prng';\n",
      'models/common/prng.ts': "import * as fs from 'node:fs';\nimport { x } from './files';\n",
      'models/common/files.ts': 'export const x = 1;\n',
      'models/load.ts': "import { mulberry32 } from './common/prng';\n",
    }));
    assert.equal(ok.status, 0, ok.stderr);
  });

  it('datasets → other models code, and models/common → the rest of models, are refused', () => {
    const bad = check(tree({
      'datasets/read.ts': "import { CheckpointError } from '../models/checkpoint';\n",
      'models/common/files.ts': "import { openSafetensors } from '../safetensors';\n",
      'models/common/lock.ts': "import { loadDataset } from '../../datasets';\n",
    }));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /datasets\/read\.ts: may not import models\/checkpoint/);
    assert.match(bad.stderr, /models\/common\/files\.ts: may not import models\/safetensors \(allowed: models\/common\)/);
    assert.match(bad.stderr, /models\/common\/lock\.ts: may not import datasets/);
  });
});
