/**
 * Which records an evaluation runs on: the test data file (from LayerLab's or the seed's flags),
 * its labels, the split against the direction's training records, and the seeded sample.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DEMO_DATASET_NAME,
  demoDataset,
  demoMmluProFewShot,
  loadDataset,
  loadMmluProFewShot,
  sampleRecords,
  type Dataset,
  type MmluProFewShot,
  type QARecord,
  type Subset,
} from '../../datasets';
import { EvaluateError, type CommonEvalOptions, type SplitMode } from './options';

/** `--data_file demo` (or `builtin:demo`) names the built-in demo dataset. */
export const BUILTIN_DEMO_NAMES = ['demo', 'builtin:demo', DEMO_DATASET_NAME];

export interface TestData {
  dataset: Dataset;
  /** The name the run and the cache lookup use (the seed's --test_data_name, else the file name). */
  name: string;
  /** True for the built-in demo questions (from `--data_file demo` or a file written by writeDemoDataset). */
  isDemo: boolean;
}

const EXTENSIONS = ['.json', '.jsonl', '.parquet'];

/**
 * The test data file: `--data_file`, else the seed's `--test_data_path DIR --test_data_name KEY`
 * (`DIR/KEY.json`, or .jsonl/.parquet when that is what exists; `--test_data_path` may also name
 * the file itself), else `--mmlu_pro_3000samples_data_file_path` (the seed drew its test records
 * from that file).
 */
export function resolveTestDataFile(o: Pick<CommonEvalOptions, 'dataFile' | 'testDataPath' | 'testDataName' | 'mmluPro3000samplesDataFilePath'>): { file: string | 'builtin:demo'; name: string } {
  if (o.dataFile !== undefined) {
    if (BUILTIN_DEMO_NAMES.includes(o.dataFile) && !fs.existsSync(o.dataFile)) return { file: 'builtin:demo', name: o.testDataName ?? DEMO_DATASET_NAME };
    return { file: path.resolve(o.dataFile), name: o.testDataName ?? baseName(o.dataFile) };
  }
  if (o.testDataPath !== undefined) {
    const p = path.resolve(o.testDataPath);
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return { file: p, name: o.testDataName ?? baseName(p) };
    if (o.testDataName === undefined) {
      throw new EvaluateError(`--test_data_path ${p} is a folder (or missing): add --test_data_name KEY to read ${path.join(p, 'KEY.json')}, or pass --data_file FILE`);
    }
    const direct = path.join(p, o.testDataName);
    if (EXTENSIONS.some((e) => o.testDataName!.endsWith(e)) && fs.existsSync(direct)) return { file: direct, name: baseName(direct) };
    const candidates = EXTENSIONS.map((e) => path.join(p, o.testDataName + e));
    const found = candidates.find((c) => fs.existsSync(c));
    if (!found) throw new EvaluateError(`no test data file ${candidates[0]} (nor .jsonl/.parquet): check --test_data_path and --test_data_name`);
    return { file: found, name: o.testDataName };
  }
  if (o.mmluPro3000samplesDataFilePath !== undefined) {
    const p = path.resolve(o.mmluPro3000samplesDataFilePath);
    return { file: p, name: o.testDataName ?? baseName(p) };
  }
  throw new EvaluateError('no test data: pass --data_file FILE (or demo), or the seed\'s --test_data_path DIR --test_data_name KEY');
}

export function baseName(file: string): string {
  return path.basename(file).replace(/\.(jsonl|ndjson|json|parquet)$/i, '');
}

export async function loadTestData(o: CommonEvalOptions): Promise<TestData> {
  const { file, name } = resolveTestDataFile(o);
  if (file === 'builtin:demo') {
    if (o.kind !== undefined || o.labelRule !== undefined) throw new EvaluateError('--kind and --label_rule do not apply to the built-in demo dataset');
    return { dataset: demoDataset(), name, isDemo: true };
  }
  if (!fs.existsSync(file)) throw new EvaluateError(`test data file ${file} does not exist`);
  const dataset = await loadDataset(file, { kind: o.kind, labelRule: o.labelRule, split: o.dataSplit, name, encoding: o.encoding });
  // A file written by writeDemoDataset holds exactly the demo's bytes: it is the demo.
  const isDemo = dataset.contentHash === demoDataset().contentHash;
  return { dataset, name, isDemo };
}

export interface SplitInfo {
  mode: SplitMode;
  /** Records of the dataset that carry a label (unlabelled ones are never evaluated). */
  labelled: number;
  /** Records left out because the directions were computed from them (holdout only). */
  excluded: number;
  /** Records the sample was drawn from. */
  pool: number;
  /** The data the directions came from, when known. */
  directionsDataName?: string;
  note?: string;
}

export interface Selection {
  records: (QARecord & { label: Subset })[];
  split: SplitInfo;
}

/**
 * The records to evaluate. `holdout` (the default) leaves out every record the directions were
 * computed from, so accuracy is measured on questions the direction never saw; `overlap` is what
 * the seed did (its 200 test records were drawn from the very records of the direction). The
 * training ids only say something about this dataset when the directions were computed from it,
 * which LayerLab's cache convention makes visible as the same data name.
 */
export function selectRecords(
  data: TestData,
  o: { split: SplitMode; sampleSize: number; seed: number },
  directions: { trainIds: string[]; dataName?: string; dataHash?: string }[] = [],
): Selection {
  const labelled = data.dataset.records.filter((r): r is QARecord & { label: Subset } => r.label !== undefined);
  if (labelled.length === 0) {
    throw new EvaluateError(
      `${data.dataset.file}: no record has a reasoning/memorization label${data.dataset.labelRule ? '' : ' (this dataset kind has no default label rule)'}; ` +
        'pass --label_rule, e.g. "score>0.5" or "label:Reasoning=reasoning,Memorization=memorization"',
    );
  }
  let pool = labelled;
  const split: SplitInfo = { mode: o.split, labelled: labelled.length, excluded: 0, pool: labelled.length };
  const names = [...new Set(directions.map((d) => d.dataName).filter((n): n is string => !!n))];
  if (names.length) split.directionsDataName = names.join(', ');
  if (o.split === 'holdout') {
    // Every directions source computed from this data contributes its training records.
    const fromThis = directions.filter((d) => sameData(data, d));
    if (directions.length === 0) {
      split.note = 'no directions were given, so no record had to be held out';
    } else if (fromThis.length === 0) {
      split.note = `the directions come from "${split.directionsDataName ?? 'other data'}", not "${data.name}": no record of this data was used to compute them`;
    } else {
      const train = new Set(fromThis.flatMap((d) => d.trainIds));
      pool = labelled.filter((r) => !train.has(r.id));
      split.excluded = labelled.length - pool.length;
      if (pool.length === 0) {
        throw new EvaluateError(
          `all ${labelled.length} labelled records of ${data.name} were used to compute the directions, so none is left for a held-out evaluation; ` +
            'recompute the directions with a held-out fraction (compute-directions --holdout 0.2) or pass --split overlap (what the seed did)',
        );
      }
    }
  }
  split.pool = pool.length;
  return { records: sampleRecords(pool, o.sampleSize, o.seed) as (QARecord & { label: Subset })[], split };
}

/**
 * Whether the directions were computed from this very data: by the data file's hash when the
 * cache recorded it, else by name (the cache is keyed by the same data name). Without either,
 * assume they were, so that holdout errs on the side of leaving records out.
 */
function sameData(data: TestData, d: { dataName?: string; dataHash?: string }): boolean {
  if (d.dataHash) return d.dataHash === data.dataset.contentHash;
  if (d.dataName) return d.dataName === data.name;
  return true;
}

/**
 * MMLU-Pro few-shot examples: from `--fewshot_file`, or the demo's own when the test data is the
 * demo dataset. There is deliberately no default file: the validation split lives wherever the
 * user downloaded it, and a silently missing few-shot file would change what is measured.
 */
export async function loadFewShot(o: CommonEvalOptions, data: TestData): Promise<MmluProFewShot> {
  const opts = { cot: o.withCot, shots: o.shots };
  if (o.fewshotFile !== undefined) {
    const file = path.resolve(o.fewshotFile);
    if (!fs.existsSync(file)) throw new EvaluateError(`--fewshot_file ${file} does not exist`);
    return loadMmluProFewShot(file, opts);
  }
  if (data.isDemo) return demoMmluProFewShot(opts);
  throw new EvaluateError(
    `--with_fewshot_prompts needs the few-shot examples of each category: pass --fewshot_file with MMLU-Pro's validation split ` +
      '(validation.json or validation-00000-of-00001.parquet from TIGER-Lab/MMLU-Pro, 5 examples per category)',
  );
}
