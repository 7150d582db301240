/**
 * models/common/files.ts: atomic replacement, group commits that survive a crash between their
 * renames, cleanup of dead writers' temporary files, and file-system errors that name the path,
 * the operation and what to do — on real faults (a full tmpfs, a read-only mount, a folder the
 * user may not write) rather than mocked error codes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  commitJournalFor,
  describeFsError,
  FileSystemError,
  recoverFilesTogether,
  removeStaleTemps,
  tempPathFor,
  writeFileAtomic,
  writeFilesTogether,
} from '../../models/common/files';
import { cannotMount, mountTmpfs, snapshotDir } from '../helpers/mounts';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const FILES = path.join(ROOT, 'models', 'common', 'files.ts');

/** A pid that certainly belongs to no process: one that just exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('writeFileAtomic', () => {
  test('replaces the file, creates its folder, leaves no temporary file', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'a', 'b', 'run.json');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, Buffer.from('two'));
    writeFileAtomic(f, (fd) => fs.writeSync(fd, 'three'));
    assert.equal(fs.readFileSync(f, 'utf8'), 'three');
    assert.deepEqual(fs.readdirSync(path.dirname(f)), ['run.json']);
  });

  test('a writer that fails half-way leaves the old file and no temporary file', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'x.bin');
    writeFileAtomic(f, 'old');
    assert.throws(() => writeFileAtomic(f, (fd) => {
      fs.writeSync(fd, 'half of the new');
      throw new Error('boom');
    }), /boom/);
    assert.equal(fs.readFileSync(f, 'utf8'), 'old');
    assert.deepEqual(fs.readdirSync(dir), ['x.bin']);
  });

  test('temporary files of dead writers go at the next write; a live writer’s stay', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'stats.json');
    const dead = `${f}.tmp-${deadPid()}`;
    const live = `${f}.tmp-${process.ppid}`;
    const other = path.join(dir, 'other.json.tmp-1');
    for (const p of [dead, live, other]) fs.writeFileSync(p, 'leftover');
    writeFileAtomic(f, '{}');
    assert.ok(!fs.existsSync(dead), 'a dead pid’s temporary file is removed');
    assert.ok(fs.existsSync(live), 'a live pid’s temporary file is kept (it may be writing)');
    assert.ok(fs.existsSync(other), 'temporary files of other targets are not touched');
    assert.deepEqual(removeStaleTemps(f, { allButOurs: true }), [live], 'the output’s lock holder removes every one but its own');
  });

  test('errors pass through unless they are file-system failures a user can act on', () => {
    const e = new Error('not an errno');
    assert.equal(describeFsError(e, { path: '/x', operation: 'write x' }), e);
    const enoent = Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    assert.equal(describeFsError(enoent, { path: '/x', operation: 'write x' }), enoent);
  });
});

describe('writeFilesTogether', () => {
  test('replaces every file; a failure while writing leaves all the old ones and nothing else', () => {
    const dir = tmpDir();
    const a = path.join(dir, 'd.directions.safetensors');
    const b = path.join(dir, 'd.directions.json');
    writeFilesTogether([{ file: a, content: 'A1' }, { file: b, content: 'B1' }]);
    assert.deepEqual([fs.readFileSync(a, 'utf8'), fs.readFileSync(b, 'utf8')], ['A1', 'B1']);
    const before = snapshotDir(dir);
    assert.throws(() => writeFilesTogether([{ file: a, content: 'A2' }, { file: b, content: () => { throw new Error('disk trouble'); } }]), /disk trouble/);
    assert.deepEqual(snapshotDir(dir), before, 'both old files, no temporary file, no journal');
  });

  test('killed between the two renames: the pair is mixed, and the next run finishes the commit', () => {
    const dir = tmpDir();
    const a = path.join(dir, 'd.directions.safetensors');
    const b = path.join(dir, 'd.directions.json');
    writeFilesTogether([{ file: a, content: 'A1' }, { file: b, content: 'B1' }]);
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e',
      `require(${JSON.stringify(FILES)}).writeFilesTogether([{ file: ${JSON.stringify(a)}, content: 'A2' }, { file: ${JSON.stringify(b)}, content: 'B2' }])`],
    { cwd: ROOT, env: { ...process.env, LAYERLAB_FAILPOINT: 'commit:renamed-0' } });
    assert.equal(child.signal, 'SIGKILL', 'the child died at the failpoint');
    assert.equal(fs.readFileSync(a, 'utf8'), 'A2');
    assert.equal(fs.readFileSync(b, 'utf8'), 'B1', 'a crash between the renames mixes the pair...');
    assert.ok(fs.existsSync(commitJournalFor([a, b])), '...and leaves the journal that says how to finish');
    assert.equal(recoverFilesTogether([a, b]), true);
    assert.deepEqual([fs.readFileSync(a, 'utf8'), fs.readFileSync(b, 'utf8')], ['A2', 'B2']);
    assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(b), path.basename(a)].sort(), 'no journal or temporary file left');
    assert.equal(recoverFilesTogether([a, b]), false, 'nothing to recover twice');
  });

  test('killed after the temporary files but before the journal: the old pair stays, and the temporaries go next time', () => {
    const dir = tmpDir();
    const a = path.join(dir, 'p.safetensors');
    const b = path.join(dir, 'p.json');
    writeFilesTogether([{ file: a, content: 'A1' }, { file: b, content: 'B1' }]);
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e',
      `require(${JSON.stringify(FILES)}).writeFilesTogether([{ file: ${JSON.stringify(a)}, content: 'A2' }, { file: ${JSON.stringify(b)}, content: 'B2' }])`],
    { cwd: ROOT, env: { ...process.env, LAYERLAB_FAILPOINT: 'temp-written:p.json' } });
    assert.equal(child.signal, 'SIGKILL');
    assert.deepEqual([fs.readFileSync(a, 'utf8'), fs.readFileSync(b, 'utf8')], ['A1', 'B1']);
    assert.ok(fs.readdirSync(dir).some((n) => n.includes('.tmp-')), 'the killed writer left a temporary file');
    writeFilesTogether([{ file: a, content: 'A3' }, { file: b, content: 'B3' }]);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['p.json', 'p.safetensors']);
  });
});

describe('real file-system faults', { skip: cannotMount }, () => {
  test('a full disk: the message names the file, says "no space" and what to do; the old file stays; no temporary file keeps the space', () => {
    const m = mountTmpfs(64);
    try {
      const f = path.join(m.dir, 'run.json');
      writeFileAtomic(f, 'old');
      const before = snapshotDir(m.dir);
      assert.throws(() => writeFileAtomic(f, Buffer.alloc(256 * 1024, 1), { operation: 'write the run file', hint: 'choose a writable --out' }), (e) => {
        assert.ok(e instanceof FileSystemError);
        assert.equal(e.code, 'ENOSPC');
        assert.match(e.message, new RegExp(`^${m.dir}/run\\.json`));
        assert.match(e.message, /no space left on the device \(ENOSPC\) while trying to write the run file\. Free some space .* run the same command again\. Choose a writable --out\./);
        return true;
      });
      assert.deepEqual(snapshotDir(m.dir), before);
    } finally {
      m.unmount();
    }
  });

  test('a read-only file system is called read-only (not "no such file")', () => {
    const m = mountTmpfs(64, { readOnly: true, populate: (d) => fs.writeFileSync(path.join(d, 'keep.json'), 'x') });
    try {
      assert.throws(() => writeFileAtomic(path.join(m.dir, 'sub', 'out.json'), 'new', { operation: 'write the run file' }), (e) => {
        assert.ok(e instanceof FileSystemError, String(e));
        assert.equal(e.code, 'EROFS');
        assert.match(e.message, /the file system is read-only \(EROFS\), so LayerLab cannot write the run file there\. Choose a location on a writable disk/);
        assert.ok(e.message.startsWith(m.dir), e.message);
        return true;
      });
    } finally {
      m.unmount();
    }
  });
});

test('a folder the user may not write: permission denied, named, with advice', { skip: process.platform !== 'linux' ? 'needs a Linux user to drop to' : false }, async () => {
  const dir = tmpDir();
  const locked = path.join(dir, 'locked');
  fs.mkdirSync(locked, { mode: 0o555 });
  fs.chmodSync(dir, 0o755);
  // Root ignores permissions, so the write runs in a child as an ordinary user when we are root.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', `
    try { require(${JSON.stringify(FILES)}).writeFileAtomic(${JSON.stringify(path.join(locked, 'out.json'))}, 'x', { operation: 'write the run file' }); console.log('WROTE'); }
    catch (e) { console.log(e.name + ': ' + e.message); }`], { cwd: ROOT, ...asUser, env: { ...process.env, TSX_TSCONFIG_PATH: path.join(ROOT, 'tsconfig.json') } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  await new Promise((res) => child.on('exit', res));
  assert.match(out, new RegExp(`FileSystemError: ${locked}.*permission denied \\(EACCES\\) while trying to write the run file\\. Check the folder's owner and permissions`));
});

test('tempPathFor names the writer', () => {
  assert.equal(tempPathFor('/a/b.json'), `/a/b.json.tmp-${process.pid}`);
});
