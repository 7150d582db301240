/**
 * The layering check (scripts/check-imports.mjs) run on small trees: datasets/ may use the leaf
 * helpers of models/common/ but nothing else of models/, and models/common/ imports nothing of
 * LayerLab outside itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers/tmp';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'check-imports.mjs');

function check(files: Record<string, string>): { status: number | null; out: string } {
  const root = tmpDir('layerlab-layering-');
  for (const [rel, src] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), src);
  }
  const r = spawnSync(process.execPath, [SCRIPT], { cwd: root, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('datasets may import models/common, models/common only itself', () => {
  const ok = check({
    'datasets/sample.ts': "import { mulberry32 } from '../models/common/prng';\n",
    'models/common/prng.ts': "import * as fs from 'node:fs';\nimport { x } from './files';\n",
    'models/common/files.ts': 'export const x = 1;\n',
    'models/load.ts': "import { mulberry32 } from './common/prng';\n",
  });
  assert.equal(ok.status, 0, ok.out);
});

test('datasets → other models code, and models/common → the rest of models, are refused', () => {
  const bad = check({
    'datasets/read.ts': "import { CheckpointError } from '../models/checkpoint';\n",
    'models/common/files.ts': "import { openSafetensors } from '../safetensors';\n",
    'models/common/lock.ts': "import { loadDataset } from '../../datasets';\n",
  });
  assert.equal(bad.status, 1);
  assert.match(bad.out, /datasets\/read\.ts: may not import models\/checkpoint/);
  assert.match(bad.out, /models\/common\/files\.ts: may not import models\/safetensors \(allowed: models\/common\)/);
  assert.match(bad.out, /models\/common\/lock\.ts: may not import datasets/);
});
