/**
 * A real single-node Slurm cluster for tests, from Debian's packages (slurmctld, slurmd,
 * slurm-client, munge; `bash .ci/apt` installs them): its own munge key and socket, ports,
 * state and spool folders in a temporary folder, so that it touches nothing of the machine's
 * own configuration. Started synchronously (a few seconds) so that a test file can skip with one
 * line when it cannot start; stopped when the process exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SlurmCluster {
  /** Environment for sbatch, squeue and the jobs (SLURM_CONF). */
  env: Record<string, string>;
  dir: string;
  stop(): void;
}

const BINARIES = ['/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/sbin/munged', '/usr/bin/sbatch', '/usr/bin/squeue', '/usr/bin/sinfo'];

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A TCP port free at this moment (asked of the kernel by a child process, since this must be synchronous). */
function freePort(): number {
  const r = spawnSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** Starts a cluster, or says in one line why it cannot. */
export function startSlurm(): SlurmCluster | { skip: string } {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { skip: "skipped: starting Slurm's daemons needs root on Linux" };
  const missing = BINARIES.filter((b) => !fs.existsSync(b));
  if (missing.length) return { skip: `skipped: Slurm is not installed (${missing.map((m) => path.basename(m)).join(', ')} missing; bash .ci/apt installs slurmctld slurmd slurm-client munge)` };
  const mungeUid = spawnSync('id', ['-u', 'munge'], { encoding: 'utf8' });
  if (mungeUid.status !== 0) return { skip: 'skipped: there is no munge user (install the munge package)' };
  const uid = Number(mungeUid.stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'munge'], { encoding: 'utf8' }).stdout.trim());

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerlab-slurm-'));
  // munged wants its socket's folder reachable by everyone and its key private to it.
  fs.chmodSync(dir, 0o755);
  const sock = path.join(dir, 'munge');
  const priv = path.join(dir, 'munge-private');
  for (const [d, mode] of [[sock, 0o755], [priv, 0o700]] as const) {
    fs.mkdirSync(d);
    fs.chownSync(d, uid, gid);
    fs.chmodSync(d, mode);
  }
  const key = path.join(priv, 'munge.key');
  fs.writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  fs.chownSync(key, uid, gid);
  for (const d of ['state', 'spool', 'log']) fs.mkdirSync(path.join(dir, d));

  const children: ChildProcess[] = [];
  const mungePid = path.join(sock, 'munged.pid');
  const stop = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    try {
      process.kill(Number(fs.readFileSync(mungePid, 'utf8')), 'SIGTERM');
    } catch {
      // not started, or gone
    }
    // The daemons write their state as they stop: give them a moment, and leave the folder in
    // /tmp rather than fail a test that passed.
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
        return;
      } catch {
        sleep(250);
      }
    }
  };
  process.on('exit', stop);

  const munged = spawnSync('su', ['-s', '/bin/sh', 'munge', '-c',
    `/usr/sbin/munged --socket=${sock}/socket --key-file=${key} --log-file=${priv}/munged.log --pid-file=${mungePid} --seed-file=${priv}/seed`], { encoding: 'utf8' });
  if (munged.status !== 0) {
    stop();
    return { skip: `skipped: munged did not start (${munged.stderr.trim() || tail(`${priv}/munged.log`)})` };
  }

  const host = os.hostname();
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(conf, [
    'ClusterName=layerlabtest',
    `SlurmctldHost=${host}(127.0.0.1)`,
    `SlurmctldPort=${freePort()}`,
    `SlurmdPort=${freePort()}`,
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${sock}/socket`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'SlurmUser=root',
    'SlurmdUser=root',
    'ReturnToService=2',
    'MpiDefault=none',
    'JobAcctGatherType=jobacct_gather/none',
    `StateSaveLocation=${dir}/state`,
    `SlurmdSpoolDir=${dir}/spool`,
    `SlurmctldPidFile=${dir}/slurmctld.pid`,
    `SlurmdPidFile=${dir}/slurmd.pid`,
    `SlurmctldLogFile=${dir}/log/slurmctld.log`,
    `SlurmdLogFile=${dir}/log/slurmd.log`,
    `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${Math.max(1, os.cpus().length)} RealMemory=${Math.floor(os.totalmem() / 2 ** 20 / 2)} State=UNKNOWN`,
    `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
    '',
  ].join('\n'));
  const env = { SLURM_CONF: conf };
  for (const daemon of ['slurmctld', 'slurmd']) {
    const log = fs.openSync(path.join(dir, 'log', `${daemon}.out`), 'a');
    children.push(spawn(`/usr/sbin/${daemon}`, ['-D', '-f', conf], { stdio: ['ignore', log, log], env: { ...process.env, ...env } }));
    fs.closeSync(log);
  }
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; sleep(250)) {
    const s = spawnSync('/usr/bin/sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', env: { ...process.env, ...env } });
    if (s.status === 0 && s.stdout.trim() === 'idle') return { env, dir, stop };
    if (children.some((c) => c.exitCode !== null)) break;
  }
  stop();
  return { skip: `skipped: Slurm did not start a node within 30 s (slurmctld: ${tail(path.join(dir, 'log', 'slurmctld.log'))}; slurmd: ${tail(path.join(dir, 'log', 'slurmd.log'))})` };
}
