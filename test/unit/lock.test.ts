/**
 * Output locks (models/common/lock.ts): a second writer fails at once naming the holder; a lock
 * whose holder died, or whose pid now belongs to a later process, is taken over; when several
 * processes take over the same stale lock at the same moment, exactly one gets it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireOutputLock, lockDirFor, OutputLockedError, type LockOwner } from '../../models/common/lock';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const LOCK = path.join(ROOT, 'models', 'common', 'lock.ts');

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/** Writes a lock folder as another process would have left it. */
function plantLock(target: string, owner: Partial<LockOwner>): void {
  const dir = lockDirFor(target);
  fs.mkdirSync(dir, { recursive: true });
  const full: LockOwner = { pid: 1, host: os.hostname(), command: 'layerlab save-hidden-states (planted)', startedAt: '2026-01-01T00:00:00.000Z', purpose: 'hidden-state cache', nonce: 'planted', ...owner };
  fs.writeFileSync(path.join(dir, 'owner.json'), JSON.stringify(full));
}

function lines(child: ChildProcess): Promise<string[]> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.on('exit', () => resolve(out.split('\n').filter(Boolean)));
  });
}

describe('output locks', () => {
  test('a second writer fails at once, naming the holder; after release the output is free', () => {
    const target = path.join(tmpDir(), 'c.safetensors');
    const lock = acquireOutputLock(target, 'hidden-state cache');
    assert.throws(() => acquireOutputLock(target, 'hidden-state cache'), (e) => {
      assert.ok(e instanceof OutputLockedError);
      assert.match(e.message, new RegExp(`^${target} is being written by another LayerLab process \\(pid ${process.pid}, started \\d{4}-\\d\\d-\\d\\dT[^,]+, command: .*\\), as a hidden-state cache\\.`));
      assert.match(e.message, new RegExp(`If that process no longer exists, delete ${lockDirFor(target)}`));
      return true;
    });
    lock.release();
    lock.release();
    acquireOutputLock(target, 'hidden-state cache').release();
    assert.deepEqual(fs.readdirSync(path.dirname(target)), [], 'nothing left beside the output');
  });

  test('a lock held by another live process names its pid and command line', async () => {
    const target = path.join(tmpDir(), 'run.json');
    const holder = spawn(process.execPath, ['--import', 'tsx', '-e',
      `require(${JSON.stringify(LOCK)}).acquireOutputLock(${JSON.stringify(target)}, 'run file'); console.log('HELD'); setInterval(() => {}, 1000); // holder-marker`],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => holder.stdout!.on('data', (d) => String(d).includes('HELD') && res()));
    try {
      assert.throws(() => acquireOutputLock(target, 'run file'), (e) => {
        assert.ok(e instanceof OutputLockedError);
        assert.equal(e.owner?.pid, holder.pid);
        assert.match(e.message, new RegExp(`pid ${holder.pid}, started .*command: .*holder-marker`));
        return true;
      });
    } finally {
      holder.kill('SIGKILL');
      await new Promise((res) => holder.on('exit', res));
    }
    // Its holder was killed: the lock is stale and is taken over.
    const lock = acquireOutputLock(target, 'run file');
    lock.release();
    assert.deepEqual(fs.readdirSync(path.dirname(target)), [], 'the stale lock and the takeover leftovers are gone');
  });

  test('a stale lock is taken over: dead pid, or a live pid that started after the lock was written', () => {
    const dir = tmpDir();
    const a = path.join(dir, 'a.json');
    plantLock(a, { pid: deadPid() });
    acquireOutputLock(a, 'run file').release();
    if (process.platform === 'linux') {
      const b = path.join(dir, 'b.json');
      plantLock(b, { pid: process.pid, procStart: '1' }); // our pid, but not our start time: a reused pid
      acquireOutputLock(b, 'run file').release();
    }
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('a lock written on another host is never taken over automatically', () => {
    const target = path.join(tmpDir(), 'c.safetensors');
    plantLock(target, { pid: deadPid(), host: 'some-other-machine' });
    assert.throws(() => acquireOutputLock(target, 'hidden-state cache'), /pid \d+ on host some-other-machine/);
  });

  test('release never removes a lock that someone else took over meanwhile', () => {
    const target = path.join(tmpDir(), 'c.safetensors');
    const lock = acquireOutputLock(target, 'hidden-state cache');
    fs.rmSync(lockDirFor(target), { recursive: true });
    plantLock(target, { pid: process.ppid, nonce: 'someone-else' });
    lock.release();
    assert.ok(fs.existsSync(path.join(lockDirFor(target), 'owner.json')), 'the other owner’s lock is intact');
  });

  test('six processes taking over the same stale lock at once: exactly one gets it', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'c.safetensors');
    const go = path.join(dir, 'go');
    plantLock(target, { pid: deadPid(), nonce: 'stale-one' });
    // Each child waits for the same start signal, tries once, and holds what it got for a while,
    // so every attempt overlaps the winner's tenure; each pauses 300 ms after judging the lock
    // stale, so that all of them are inside the takeover at the same time.
    const children = Array.from({ length: 6 }, () =>
      spawn(process.execPath, ['--import', 'tsx', '-e', `
        const fs = require('node:fs');
        const { acquireOutputLock } = require(${JSON.stringify(LOCK)});
        console.log('READY');
        const wait = () => { if (!fs.existsSync(${JSON.stringify(go)})) return setTimeout(wait, 2); try { acquireOutputLock(${JSON.stringify(target)}, 'test'); console.log('WON'); setTimeout(() => {}, 2500); } catch (e) { console.log('LOST ' + e.name); } };
        wait();`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LAYERLAB_FAILPOINT: 'lock:stale-seen:sleep=300' } }));
    const outputs = children.map(lines);
    await Promise.all(children.map((c) => new Promise<void>((res) => c.stdout!.on('data', (d) => String(d).includes('READY') && res()))));
    fs.writeFileSync(go, '');
    const results = (await Promise.all(outputs)).map((l) => l.filter((x) => x !== 'READY').join(' '));
    assert.equal(results.filter((r) => r === 'WON').length, 1, results.join(' | '));
    assert.equal(results.filter((r) => r === 'LOST OutputLockedError').length, 5, results.join(' | '));
  });
});
