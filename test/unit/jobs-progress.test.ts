// A job's progress reports (runtime/jobs/progress.ts), as both faces show them: never backwards,
// a rate and ETA measured from the job's own reports, the final report always, and the words.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressReporter } from '../../runtime/jobs/progress';
import { describeProgress, formatSeconds, type JobProgress } from '../../runtime/protocol/jobs';

describe('job progress', () => {
  it('measures the rate from the first report and the ETA from what is left; never goes backwards', () => {
    let now = 1000;
    const sent: JobProgress[] = [];
    const r = progressReporter((p) => sent.push(p), 0, () => now);
    r.report(10, 110, 'resumed'); // a resumed job starts at 10: the rate counts from there
    now += 2000;
    r.report(30, 110);
    now += 2000;
    r.report(20, 110, 'late report'); // clamped to 30
    assert.deepEqual(sent[0], { done: 10, total: 110, message: 'resumed' }, 'no rate before time has passed');
    assert.deepEqual(sent[1], { done: 30, total: 110, rate: 10, etaSeconds: 8 });
    assert.deepEqual(sent[2], { done: 30, total: 110, message: 'late report', rate: 5, etaSeconds: 16 });
  });

  it('throttles to the interval, sends the final report once, and nothing after close', () => {
    const now = 0;
    const sent: JobProgress[] = [];
    const r = progressReporter((p) => sent.push(p), 1000, () => now);
    r.report(0, 3);
    r.report(1, 3); // held back (within the interval)
    r.report(3, 3);
    r.report(3, 3);
    r.close();
    r.report(3, 3);
    assert.deepEqual(sent.map((p) => p.done), [0, 3]);
  });

  it('reads as the CLI prints it and the editor shows it', () => {
    assert.equal(describeProgress({ done: 12, total: 40, rate: 3.14, etaSeconds: 8.9, message: 'post@3 scale=0.1' }), '12/40 (30%), 3.1/s, ETA 9 s, post@3 scale=0.1');
    assert.equal(describeProgress({ done: 0, total: 0 }), '0/0 (100%)');
    assert.equal(formatSeconds(125), '2 min 5 s');
    assert.equal(formatSeconds(7260), '2 h 1 min');
  });
});
