// CLI commands run as runtime jobs: output, logs, progress lines and the cancel signal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from '../../runtime/cli/command';
import { computeDirectionsCommand } from '../../runtime/cli/computeDirections';
import { evaluateCommand } from '../../runtime/cli/evaluate';
import { saveHiddenStatesCommand } from '../../runtime/cli/saveHiddenStates';
import { sweepCommand } from '../../runtime/cli/sweep';
import { progressPrinter } from '../../runtime/cli/progress';
import type { LogLevel } from '../../runtime/protocol/requests';
import { cliJob, parseProgressLine } from '../../runtime/server/cliJob';
import type { JobContext } from '../../runtime/server/job';
import { JOBS } from '../../runtime/server/registry';

function fakeContext(args: string[], signal = new AbortController().signal) {
  const out: string[] = [];
  const logs: [LogLevel, string][] = [];
  const progress: [number, number, string | undefined][] = [];
  const ctx: JobContext = {
    jobId: 'j1',
    args,
    signal,
    progress: (d, t, m) => void progress.push([d, t, m]),
    log: (l, m) => void logs.push([l, m]),
    openModel: () => assert.fail('not used'),
    io: { out: (t) => void out.push(t), log: (t) => void logs.push(['info', t]) },
  };
  return { ctx, out, logs, progress };
}

describe('CLI commands as jobs', () => {
  it("reads progressPrinter's own lines back", () => {
    const lines: string[] = [];
    const print = progressPrinter('save-hidden-states', (m) => lines.push(m));
    print(0, 40);
    print(40, 40, 'resumed after 8');
    assert.equal(lines.length, 2);
    assert.deepEqual(lines.map((l) => parseProgressLine(l, 'save-hidden-states')), [
      { done: 0, total: 40 },
      { done: 40, total: 40, note: 'resumed after 8' },
    ]);
    assert.deepEqual(parseProgressLine('evaluate: 3/9 (33%), 1.5/s', 'evaluate'), { done: 3, total: 9 });
    assert.equal(parseProgressLine('save-hidden-states: 3/9 (33%)', 'evaluate'), undefined, 'another label');
    assert.equal(parseProgressLine('save-hidden-states: resumed after 8 records', 'save-hidden-states'), undefined);
  });

  it('passes argv and the signal, collects stdout, and splits stderr into progress and logs', async () => {
    let seen: { argv: string[]; signal?: AbortSignal } | undefined;
    const cmd: Command = {
      name: 'compute-directions',
      summary: 'test',
      options: {},
      async run(argv, io, signal) {
        seen = { argv, signal };
        io.log('reading cache');
        const p = progressPrinter('compute-directions', io.log);
        p(0, 2);
        p(2, 2, 'done');
        io.out('directions: /x.safetensors');
      },
    };
    const ac = new AbortController();
    const { ctx, out, logs, progress } = fakeContext(['/c.safetensors', '--holdout', '0.1'], ac.signal);
    await cliJob(cmd).run(ctx);
    assert.deepEqual(seen?.argv, ['/c.safetensors', '--holdout', '0.1']);
    assert.equal(seen?.signal, ac.signal);
    assert.deepEqual(out, ['directions: /x.safetensors']);
    assert.deepEqual(logs, [['info', 'reading cache']]);
    assert.deepEqual(progress, [
      [0, 2, undefined],
      [2, 2, 'done'],
    ]);
  });

  it('passes on the files a command returns; none when it returns nothing', async () => {
    const writes = (files?: string[]): Command => ({
      name: 'save-hidden-states',
      summary: 'x',
      options: {},
      async run() {
        return files ? { files } : undefined;
      },
    });
    assert.deepEqual(await cliJob(writes(['/o/a.safetensors'])).run(fakeContext([]).ctx), { files: ['/o/a.safetensors'] });
    assert.equal(await cliJob(writes()).run(fakeContext([]).ctx), undefined);
    assert.equal(await cliJob(writes([])).run(fakeContext([]).ctx), undefined);
  });

  it('the runtime runs the CLI twins of the palette commands as jobs', () => {
    assert.deepEqual(Object.keys(JOBS).sort(), ['compute-directions', 'demo', 'evaluate', 'generate', 'save-hidden-states', 'sweep']);
    for (const [name, cmd] of [
      ['save-hidden-states', saveHiddenStatesCommand],
      ['compute-directions', computeDirectionsCommand],
      ['evaluate', evaluateCommand],
      ['sweep', sweepCommand],
    ] as const) {
      assert.equal(cmd.name, name);
      assert.equal(JOBS[name]!.summary, cmd.summary, `${name} is its CLI command`);
    }
  });

  it("a command's failure is the job's failure", async () => {
    const cmd: Command = {
      name: 'x',
      summary: 'x',
      options: {},
      async run(_argv, _io, signal) {
        signal?.throwIfAborted();
      },
    };
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(cliJob(cmd).run(fakeContext([], ac.signal).ctx), { name: 'AbortError' });
  });
});
