/**
 * Trains the model organism, or checks that training reproduces the committed one.
 *
 *   npm run organism:train   prepare.ts + train.py into models/organism/, then its manifest
 *   npm run organism:check   the same into a temporary folder, compared with the manifest
 *
 * Needs PyTorch for /usr/bin/python3 (Debian: `apt-get install python3-torch libopenblas0-pthread`).
 * Nothing else in LayerLab needs Python: the runtime only reads the committed folder.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ORGANISM_DIR,
  ORGANISM_FILES,
  ORGANISM_MANIFEST,
  organismMismatches,
  readOrganismManifest,
  sha256File,
  type OrganismManifest,
} from '../../models/organism';

const ROOT = path.resolve(__dirname, '..', '..');
const HERE = path.join(ROOT, 'scripts', 'organism');
const CONFIG = path.join(HERE, 'config.json');
const PYTHON = process.env.LAYERLAB_ORGANISM_PYTHON ?? '/usr/bin/python3';
/** What the manifest records as the command: the steps below, from the repository root. */
const COMMAND = [
  'node --import tsx scripts/organism/prepare.ts scripts/organism/config.json WORK models/organism',
  `${PYTHON} scripts/organism/train.py scripts/organism/config.json WORK models/organism`,
].join(' && ');

function run(cmd: string, args: string[]): void {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} exited with ${r.status ?? r.signal}`);
}

function requireTorch(): void {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`${PYTHON} cannot import torch, which training the organism needs (LayerLab itself does not).\n` +
      'On Debian: apt-get install -y python3-torch libopenblas0-pthread (or set LAYERLAB_ORGANISM_PYTHON).');
    process.exit(2);
  }
}

/** Trains into `out`; returns what train.py reported and where its work folder is. */
function train(out: string): { training: Record<string, unknown>; work: string } {
  requireTorch();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerlab-organism-'));
  const t0 = Date.now();
  run(process.execPath, ['--import', 'tsx', path.join(HERE, 'prepare.ts'), CONFIG, work, out]);
  run(PYTHON, [path.join(HERE, 'train.py'), CONFIG, work, out]);
  const training = JSON.parse(fs.readFileSync(path.join(work, 'training.json'), 'utf8')) as Record<string, unknown>;
  training.wall_seconds = Math.round((Date.now() - t0) / 100) / 10;
  return { training, work };
}

function manifestFor(dir: string, training: Record<string, unknown>): OrganismManifest {
  const { environment, ...rest } = training;
  return {
    format: 'layerlab-organism-manifest',
    files: Object.fromEntries(ORGANISM_FILES.map((f) => [f, sha256File(path.join(dir, f))])),
    command: COMMAND,
    config: JSON.parse(fs.readFileSync(CONFIG, 'utf8')) as Record<string, unknown>,
    training: rest,
    environment: (environment ?? {}) as Record<string, unknown>,
  };
}

function summary(training: Record<string, unknown>): string {
  const test = training.test as Record<string, { accuracy: number; correct: number; total: number }>;
  return Object.entries(test).map(([k, a]) => `${k} ${a.correct}/${a.total}`).join(', ') + `; trained in ${String(training.train_seconds)} s`;
}

function main(): void {
  const what = process.argv[2];
  if (what === 'train') {
    const { training, work } = train(ORGANISM_DIR);
    fs.writeFileSync(path.join(ORGANISM_DIR, ORGANISM_MANIFEST), JSON.stringify(manifestFor(ORGANISM_DIR, training), null, 1) + '\n');
    fs.rmSync(work, { recursive: true, force: true });
    console.log(`organism: ${summary(training)}\nwrote ${ORGANISM_DIR} and its ${ORGANISM_MANIFEST}`);
  } else if (what === 'check') {
    const committed = readOrganismManifest();
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'layerlab-organism-check-'));
    const { training, work } = train(out);
    const bad = organismMismatches(out, committed);
    console.log(`retrained: ${summary(training)}`);
    console.log(`committed: ${summary(committed.training)}`);
    if (bad.length === 0) {
      console.log(`organism:check: the retrained files are byte-identical to the manifest (${ORGANISM_FILES.join(', ')})`);
      fs.rmSync(out, { recursive: true, force: true });
      fs.rmSync(work, { recursive: true, force: true });
      return;
    }
    console.error(`organism:check: ${bad.map((b) => `${b.file}: expected ${b.expected.slice(0, 12)}…, got ${b.actual.slice(0, 12)}…`).join('; ')}`);
    console.error(`environment now: ${JSON.stringify((training.environment ?? {}))}\nwhen committed: ${JSON.stringify(committed.environment)}`);
    console.error(`(the retrained folder is kept in ${out})`);
    process.exit(1);
  } else {
    console.error('usage: organism.ts train | check');
    process.exit(2);
  }
}

main();
