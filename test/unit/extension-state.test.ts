// The runtime client's state machine and restart budget, without a process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeExit, InvalidTransitionError, isRunning, nextState, RestartBudget, type RuntimeEvent, type RuntimeState } from '../../extension/runtimeState';

describe('runtime client state machine', () => {
  it('walks the normal life: stopped → starting → ready ⇄ busy → stopped', () => {
    let s: RuntimeState = 'stopped';
    const seen: RuntimeState[] = [s];
    const events: RuntimeEvent[] = [
      { type: 'start' },
      { type: 'initialized' },
      { type: 'work-started' },
      { type: 'work-started' },
      { type: 'work-finished', remaining: 1 },
      { type: 'work-finished', remaining: 0 },
      { type: 'stopped' },
    ];
    for (const e of events) seen.push((s = nextState(s, e)));
    assert.deepEqual(seen, ['stopped', 'starting', 'ready', 'busy', 'busy', 'busy', 'ready', 'stopped']);
  });

  it('an unexpected exit from any running state is a crash, and a crash can start again', () => {
    for (const s of ['starting', 'ready', 'busy'] as const) assert.equal(nextState(s, { type: 'exited' }), 'crashed');
    assert.equal(nextState('crashed', { type: 'start' }), 'starting');
    assert.equal(nextState('crashed', { type: 'stopped' }), 'stopped');
  });

  it('requests that end after a crash or stop change nothing', () => {
    for (const s of ['crashed', 'stopped', 'ready', 'starting'] as const) assert.equal(nextState(s, { type: 'work-finished', remaining: 0 }), s);
  });

  it('rejects impossible events with a message naming state and event', () => {
    assert.throws(() => nextState('stopped', { type: 'initialized' }), InvalidTransitionError);
    assert.throws(() => nextState('ready', { type: 'start' }), /event 'start' is not valid in state 'ready'/);
    assert.throws(() => nextState('stopped', { type: 'work-started' }), InvalidTransitionError);
    assert.throws(() => nextState('stopped', { type: 'exited' }), InvalidTransitionError);
  });

  it('only ready and busy accept requests', () => {
    assert.deepEqual((['stopped', 'starting', 'ready', 'busy', 'crashed'] as const).map(isRunning), [false, false, true, true, false]);
  });
});

describe('restart budget', () => {
  it('allows 3 restarts within 3 minutes, then refuses until the window moves on', () => {
    let now = 0;
    const b = new RestartBudget(3, 180_000, () => now);
    assert.equal(b.tryConsume(), true);
    now += 10_000;
    assert.equal(b.tryConsume(), true);
    now += 10_000;
    assert.equal(b.tryConsume(), true);
    assert.equal(b.used, 3);
    now += 10_000;
    assert.equal(b.tryConsume(), false, 'a 4th crash within 3 minutes is not restarted');
    // The first restart (t=0) leaves the window at t=180 s.
    now = 180_000;
    assert.equal(b.used, 2);
    assert.equal(b.tryConsume(), true);
  });

  it('reset() gives the whole budget back (the user restarted by hand)', () => {
    const b = new RestartBudget(3, 180_000, () => 0);
    for (let i = 0; i < 3; i++) b.tryConsume();
    assert.equal(b.tryConsume(), false);
    b.reset();
    assert.equal(b.tryConsume(), true);
  });

  it('describes itself for messages', () => {
    assert.equal(new RestartBudget().describe(), '3 restarts within 3 minutes');
    assert.equal(new RestartBudget(1, 30_000).describe(), '1 restart within 30 seconds');
  });

  it('describes how a process ended', () => {
    assert.equal(describeExit(null, 'SIGKILL'), 'killed by SIGKILL');
    assert.equal(describeExit(3, null), 'exit code 3');
    assert.equal(describeExit(null, null), 'ended');
  });
});
