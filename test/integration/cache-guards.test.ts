/**
 * The hidden-state cache writer's guards, on the real demo model through the library API
 * (runtime/cache/writer.ts): prompts longer than the context (refused before any work, skipped
 * or cut), non-finite rows (caching stops at the record, earlier rows stay committed), float16
 * overflow, cancellation while prompts are tokenized, and one writer per output.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMO_BOS_ID, DEMO_BYTE_OFFSET, writeDemoModel } from '../../models/demo';
import { lockDirFor, OutputLockedError } from '../../models/common/lock';
import { openSafetensors, writeSafetensors } from '../../models/safetensors';
import { CancelledError } from '../../runtime/generate';
import { openModel, type OpenedModel } from '../../runtime/openModel';
import { LongPromptError } from '../../runtime/promptFit';
import { CacheError, partialDir, writeHiddenStateCache, type CacheJob } from '../../runtime/cache/writer';
import { writeOverflowModel } from '../helpers/hostileModels';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir();
const graphCacheDir = path.join(root, 'graphs');
const CONTEXT = 32;
const HOOKS = ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post'];

const bytesOf = (text: string) => [DEMO_BOS_ID, ...Buffer.from(text).map((b) => DEMO_BYTE_OFFSET + b)];

async function open(dir: string): Promise<OpenedModel> {
  return openModel(dir, { provider: 'cpu', graphCacheDir });
}

function job(file: string, prompts: number[][], extra: Partial<CacheJob> = {}): CacheJob {
  const recordIds = prompts.map((_, i) => `r${i}`);
  return {
    file, hooks: HOOKS, positions: 'last', dtype: 'float32', batchSize: 3, recordIds,
    tokens: (i) => prompts[i], metadata: { data_name: 'guards' },
    recordMetadata: { labels: prompts.map((_, i) => (i % 2 ? 'reasoning' : 'memorization')) },
    ...extra,
  };
}

/** Ten prompts; records 2, 5 and 6 are longer than the context. */
const prompts = Array.from({ length: 10 }, (_, i) => bytesOf([2, 5, 6].includes(i) ? `record ${i} `.repeat(6) : `short ${i}`));

describe('prompts longer than the context', () => {
  test('default: refused before any work, naming how many and which', async () => {
    const opened = await open(writeDemoModel(path.join(root, 'ctx32'), { maxSeqLen: CONTEXT }).dir);
    try {
      const file = path.join(root, 'err', 'c.safetensors');
      await assert.rejects(writeHiddenStateCache(opened.model, job(file, prompts)), (e) => {
        assert.ok(e instanceof LongPromptError, String(e));
        assert.match(e.message, /^3 of 10 records have prompts longer than the model's context of 32 tokens: record 2 \(id r2, 55 tokens\), record 5 \(id r5, 55 tokens\), record 6 \(id r6, 55 tokens\)\. Nothing was computed\. .*--on_long_prompt skip .*--on_long_prompt truncate-left \(keep their last 32 tokens\)/);
        return true;
      });
      assert.ok(!fs.existsSync(path.dirname(file)) || fs.readdirSync(path.dirname(file)).length === 0, 'no partial cache, no lock, no file');
    } finally {
      await opened.model.release();
    }
  });

  test('skip: the others are cached exactly as on their own, the skipped are listed, labels follow', async () => {
    const opened = await open(path.join(root, 'ctx32'));
    try {
      const skipFile = path.join(root, 'skip', 'c.safetensors');
      const r = await writeHiddenStateCache(opened.model, job(skipFile, prompts, { onLongPrompt: 'skip' }));
      assert.deepEqual(r.skipped.map((s) => s.index), [2, 5, 6]);
      assert.equal(r.rows, 7);
      const kept = [0, 1, 3, 4, 7, 8, 9];
      const alone = path.join(root, 'alone', 'c.safetensors');
      await writeHiddenStateCache(opened.model, { ...job(alone, kept.map((i) => prompts[i])), recordIds: kept.map((i) => `r${i}`), recordMetadata: { labels: kept.map((i) => (i % 2 ? 'reasoning' : 'memorization')) } });
      const a = openSafetensors(skipFile);
      const b = openSafetensors(alone);
      assert.deepEqual(JSON.parse(a.metadata.record_ids), kept.map((i) => `r${i}`));
      assert.deepEqual(JSON.parse(a.metadata.labels), JSON.parse(b.metadata.labels));
      assert.equal(a.metadata.n_records, '7');
      assert.deepEqual(JSON.parse(a.metadata.skipped_records).map((s: { id: string; tokens: number }) => [s.id, s.tokens]), [['r2', 55], ['r5', 55], ['r6', 55]]);
      for (const h of HOOKS) assert.ok(a.readRaw(h).equals(b.readRaw(h)), `${h}: rows of the kept records are those of a cache of them alone`);
    } finally {
      await opened.model.release();
    }
  });

  test('truncate-left: a long prompt’s row is that of its last 32 tokens', async () => {
    const opened = await open(path.join(root, 'ctx32'));
    try {
      const file = path.join(root, 'trunc', 'c.safetensors');
      const r = await writeHiddenStateCache(opened.model, job(file, prompts, { onLongPrompt: 'truncate-left' }));
      assert.deepEqual(r.truncated.map((t) => t.index), [2, 5, 6]);
      const cut = path.join(root, 'cut', 'c.safetensors');
      await writeHiddenStateCache(opened.model, job(cut, prompts.map((p) => p.slice(-CONTEXT))));
      const a = openSafetensors(file);
      for (const h of HOOKS) assert.ok(a.readRaw(h).equals(openSafetensors(cut).readRaw(h)), h);
      assert.deepEqual(JSON.parse(a.metadata.truncated_records).map((t: { id: string; keptTokens: number }) => [t.id, t.keptTokens]), [['r2', 32], ['r5', 32], ['r6', 32]]);
    } finally {
      await opened.model.release();
    }
  });

  test('when every prompt fits, the policy changes nothing: the same bytes', async () => {
    const opened = await open(path.join(root, 'ctx32'));
    try {
      const fit = prompts.filter((p) => p.length <= CONTEXT);
      const files = (['error', 'skip', 'truncate-left'] as const).map((policy) => path.join(root, `same-${policy}`, 'c.safetensors'));
      for (const [i, policy] of (['error', 'skip', 'truncate-left'] as const).entries()) await writeHiddenStateCache(opened.model, job(files[i], fit, { onLongPrompt: policy }));
      assert.ok(fs.readFileSync(files[0]).equals(fs.readFileSync(files[1])) && fs.readFileSync(files[0]).equals(fs.readFileSync(files[2])));
    } finally {
      await opened.model.release();
    }
  });
});

describe('numbers', () => {
  test('a record whose hidden state is NaN stops the cache, named; the batches before it stay committed', async () => {
    const opened = await open(writeOverflowModel(path.join(root, 'overflow'), 0x7e));
    try {
      const file = path.join(root, 'nan', 'c.safetensors');
      const texts = ['alpha', 'beta', 'gamma', 'delta', 'epsi~lon', 'zeta', 'eta'];
      await assert.rejects(writeHiddenStateCache(opened.model, job(file, texts.map(bytesOf), { batchSize: 2 })), (e) => {
        assert.ok(e instanceof CacheError, String(e));
        assert.match(e.message, new RegExp(`^${file}: record 4 \\(id r4\\), blocks\\.1\\.hook_resid_post: a non-finite value \\(NaN\\) at dimension 0\\. The model computes NaN or infinity for this prompt.*Caching stopped; the records before it are kept and resume\\.`));
        return true;
      });
      const progress = JSON.parse(fs.readFileSync(path.join(partialDir(file), 'progress.json'), 'utf8'));
      assert.equal(progress.rowsDone, 4, 'records 0–3 (two batches) are committed; the batch holding record 4 is not');
      assert.equal(fs.statSync(path.join(partialDir(file), '0.bin')).size, 4 * 64 * 4);
      assert.ok(!fs.existsSync(file) && !fs.existsSync(lockDirFor(file)));
    } finally {
      await opened.model.release();
    }
  });

  test('float16 overflow is named, with the position, and float32 caches the same rows', async () => {
    const dir = path.join(root, 'big');
    const m = writeDemoModel(dir);
    const embed = m.tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    embed.data[(DEMO_BYTE_OFFSET + 0x7e) * 64 + 3] = 1e6; // finite, but beyond float16's 65504
    writeSafetensors(path.join(dir, 'model.safetensors'), m.tensors, { format: 'pt' });
    const opened = await open(dir);
    try {
      const p = [bytesOf('fine'), bytesOf('a~b')];
      const j = (f: string, dtype: 'float16' | 'float32') => job(f, p, { dtype, positions: 'all', hooks: ['blocks.0.hook_resid_pre'] });
      await assert.rejects(writeHiddenStateCache(opened.model, j(path.join(root, 'f16', 'c.safetensors'), 'float16')),
        /record 1 \(id r1\), blocks\.0\.hook_resid_pre: a value beyond float16's range \(±65504\) at dimension 3, position 2; cache with --dtype float32/);
      await writeHiddenStateCache(opened.model, j(path.join(root, 'f32', 'c.safetensors'), 'float32'));
    } finally {
      await opened.model.release();
    }
  });
});

describe('cancellation and exclusive output', () => {
  test('cancelled while tokenizing: stops within a slice, before any file is written', async () => {
    const opened = await open(path.join(root, 'ctx32'));
    try {
      const file = path.join(root, 'cancel', 'c.safetensors');
      const ac = new AbortController();
      // Each record takes 5 ms to tokenize, 2,000 of them 10 s: only cooperative checks stop it.
      const slow = (i: number) => {
        const until = Date.now() + 5;
        while (Date.now() < until);
        return bytesOf(`q${i}`);
      };
      setTimeout(() => ac.abort(), 200);
      const t0 = Date.now();
      await assert.rejects(writeHiddenStateCache(opened.model, { ...job(file, []), recordIds: Array.from({ length: 2000 }, (_, i) => `r${i}`), recordMetadata: {}, tokens: slow, signal: ac.signal }), CancelledError);
      const ms = Date.now() - t0;
      assert.ok(ms < 800, `stopped ${ms} ms after starting (abort at 200 ms)`);
      assert.deepEqual(fs.existsSync(path.dirname(file)) ? fs.readdirSync(path.dirname(file)) : [], [], 'nothing written, the lock released');
    } finally {
      await opened.model.release();
    }
  });

  test('a second writer of the same cache fails at once, naming the first', async () => {
    const opened = await open(path.join(root, 'ctx32'));
    try {
      const file = path.join(root, 'twice', 'c.safetensors');
      const ac = new AbortController();
      const first = writeHiddenStateCache(opened.model, { ...job(file, []), recordIds: Array.from({ length: 400 }, (_, i) => `r${i}`), recordMetadata: {}, tokens: (i) => { const u = Date.now() + 2; while (Date.now() < u); return bytesOf(`q${i}`); }, signal: ac.signal });
      await new Promise((res) => setTimeout(res, 50));
      await assert.rejects(writeHiddenStateCache(opened.model, job(file, prompts.slice(0, 2))), (e) => {
        assert.ok(e instanceof OutputLockedError, String(e));
        assert.match(e.message, new RegExp(`^${file} is being written by another LayerLab process \\(pid ${process.pid}, .*\\), as a hidden-state cache`));
        return true;
      });
      ac.abort();
      await assert.rejects(first, CancelledError);
      await writeHiddenStateCache(opened.model, job(file, prompts.slice(0, 2))); // free again once the first let go
    } finally {
      await opened.model.release();
    }
  });
});
