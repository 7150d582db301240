/**
 * The model organism: a small Llama trained (scripts/organism/train.py, PyTorch) on the
 * reasoning/memorization tasks of datasets/organism.ts, committed as a Hugging Face folder under
 * models/organism/ with a manifest of its files' hashes and of how it was made. LayerLab itself
 * never runs Python: it only reads the folder.
 *
 * The tokenizer is the demo model's (pad, bos, eos, then one token per byte) without a chat
 * template: the organism is a base model trained on plain `Q: …\nOptions are:\n…\nA: The answer
 * is (X).` text, which is what LayerLab's `plain` evaluation template renders.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { demoTokenizerConfigJson, demoTokenizerJson } from './demo';
import { writeJson } from './synthetic';

/** The committed folder (this module sits in models/ in the sources and in dist/ when bundled: both one level under the root). */
export const ORGANISM_DIR = path.resolve(__dirname, '..', 'models', 'organism');
/** The files of the Hugging Face folder, the ones the manifest hashes and the demo copies. */
export const ORGANISM_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'] as const;
export const ORGANISM_MANIFEST = 'manifest.json';

/** Writes the organism's tokenizer.json and tokenizer_config.json (before training; train.py writes the rest). */
export function writeOrganismTokenizer(dir: string, maxSeqLen: number): void {
  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, 'tokenizer.json'), demoTokenizerJson());
  writeJson(path.join(dir, 'tokenizer_config.json'), demoTokenizerConfigJson(maxSeqLen, { chatTemplate: null }));
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export interface OrganismManifest {
  format: 'layerlab-organism-manifest';
  /** sha256 of each file of ORGANISM_FILES. */
  files: Record<string, string>;
  /** The exact command that produced the folder, from the repository root. */
  command: string;
  /** The training configuration (scripts/organism/config.json at the time). */
  config: Record<string, unknown>;
  /** What train.py measured (PyTorch), for comparison with what LayerLab measures. */
  training: Record<string, unknown>;
  /** Torch version, BLAS, threads: bitwise reproduction needs the same. */
  environment: Record<string, unknown>;
}

export function readOrganismManifest(dir = ORGANISM_DIR): OrganismManifest {
  const file = path.join(dir, ORGANISM_MANIFEST);
  if (!fs.existsSync(file)) {
    throw new Error(`the model organism is missing: no ${file} (it is committed under models/organism/ and shipped beside dist/)`);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as OrganismManifest;
}

/** Files whose sha256 differs from the manifest (or that are missing), with both hashes. */
export function organismMismatches(dir: string, manifest: OrganismManifest): { file: string; expected: string; actual: string }[] {
  const out: { file: string; expected: string; actual: string }[] = [];
  for (const f of ORGANISM_FILES) {
    const p = path.join(dir, f);
    const actual = fs.existsSync(p) ? sha256File(p) : 'missing';
    if (actual !== manifest.files[f]) out.push({ file: f, expected: manifest.files[f] ?? 'not in the manifest', actual });
  }
  return out;
}

/**
 * Copies the committed organism into `dir` (the demo's models folder), after checking the
 * committed files against the manifest, so a damaged checkout fails here, by name, rather
 * than as odd accuracies later.
 */
export function copyOrganism(dir: string, from = ORGANISM_DIR): void {
  const bad = organismMismatches(from, readOrganismManifest(from));
  if (bad.length) {
    throw new Error(`the model organism in ${from} does not match its manifest: ${bad.map((b) => `${b.file} (${b.actual === 'missing' ? 'missing' : 'changed'})`).join(', ')}`);
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ORGANISM_FILES) fs.copyFileSync(path.join(from, f), path.join(dir, f));
}
