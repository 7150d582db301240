/**
 * The runtime client's state machine and restart budget as plain functions, so every
 * transition is unit-tested without a process or VS Code (the shape of vscode-languageclient's
 * and rust-analyzer's clients: start, ready, restart a few times after crashes, then stop and
 * say so).
 *
 *   stopped ─start→ starting ─initialized→ ready ⇄ busy
 *      ↑               │                     │      │
 *      └─── stopped ───┴──── exited ─→ crashed ←────┘
 *                                        └─start→ starting   (automatic restart while the budget lasts)
 */

export type RuntimeState = 'stopped' | 'starting' | 'ready' | 'busy' | 'crashed';

export type RuntimeEvent =
  | { type: 'start' }
  | { type: 'initialized' }
  /** A long request (model load, generation, job) went out. */
  | { type: 'work-started' }
  /** A long request ended; `remaining` are still in flight. */
  | { type: 'work-finished'; remaining: number }
  /** The process ended without being asked to. */
  | { type: 'exited' }
  /** The process ended after a requested stop (or never started). */
  | { type: 'stopped' };

export class InvalidTransitionError extends Error {
  constructor(state: RuntimeState, event: RuntimeEvent) {
    super(`runtime client: event '${event.type}' is not valid in state '${state}'`);
    this.name = 'InvalidTransitionError';
  }
}

export function nextState(state: RuntimeState, event: RuntimeEvent): RuntimeState {
  switch (event.type) {
    case 'start':
      if (state === 'stopped' || state === 'crashed') return 'starting';
      break;
    case 'initialized':
      if (state === 'starting') return 'ready';
      break;
    case 'work-started':
      if (state === 'ready' || state === 'busy') return 'busy';
      break;
    case 'work-finished':
      // A request may finish after a crash or stop (rejected as the process went away);
      // that changes nothing.
      if (state === 'busy') return event.remaining > 0 ? 'busy' : 'ready';
      if (state === 'ready' || state === 'crashed' || state === 'stopped' || state === 'starting') return state;
      break;
    case 'exited':
      if (state === 'starting' || state === 'ready' || state === 'busy') return 'crashed';
      break;
    case 'stopped':
      return 'stopped';
  }
  throw new InvalidTransitionError(state, event);
}

/** States in which requests can be sent. */
export function isRunning(state: RuntimeState): boolean {
  return state === 'ready' || state === 'busy';
}

/**
 * At most `max` automatic restarts within any `windowMs`. A runtime that crashes on every start
 * (a model that always runs out of memory, a broken Node) is stopped after a few tries instead
 * of looping; one crash an hour is restarted every time.
 */
export class RestartBudget {
  private restarts: number[] = [];

  constructor(
    readonly max = 3,
    readonly windowMs = 3 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a restart and returns true if it is within budget; false means give up. */
  tryConsume(): boolean {
    const t = this.now();
    this.restarts = this.restarts.filter((r) => t - r < this.windowMs);
    if (this.restarts.length >= this.max) return false;
    this.restarts.push(t);
    return true;
  }

  /** Restarts already used in the current window. */
  get used(): number {
    const t = this.now();
    return this.restarts.filter((r) => t - r < this.windowMs).length;
  }

  reset(): void {
    this.restarts = [];
  }

  /** e.g. "3 restarts within 3 minutes". */
  describe(): string {
    const minutes = this.windowMs / 60_000;
    const window = Number.isInteger(minutes) ? `${minutes} minute${minutes === 1 ? '' : 's'}` : `${this.windowMs / 1000} seconds`;
    return `${this.max} restart${this.max === 1 ? '' : 's'} within ${window}`;
  }
}

/** "exit code 1", "signal SIGKILL", for messages about how the process ended. */
export function describeExit(code: number | null, signal: NodeJS.Signals | string | null): string {
  if (signal) return `killed by ${signal}`;
  if (code === null) return 'ended';
  return `exit code ${code}`;
}

/** What a crash did, for the message that says so (runtimeClient builds it as the process ends). */
export interface CrashFacts {
  /** How the process ended, e.g. `killed by SIGKILL`. */
  exit: string;
  /** Restarting: which restart of the budget; or given up (the budget is spent). */
  restart: { used: number; budget: string } | 'gave-up';
  /** The model the runtime held, which went with it. */
  lostModel?: string;
}

/**
 * "the LayerLab runtime stopped unexpectedly (killed by SIGKILL). LayerLab is restarting it
 * (restart 1 of 3 restarts within 3 minutes). The model it held (demo) was unloaded: the next
 * job loads it again." — what happened, what LayerLab does about it, and what is lost.
 */
export function describeCrash(c: CrashFacts): string {
  const what = `the LayerLab runtime stopped unexpectedly (${c.exit}).`;
  const next =
    c.restart === 'gave-up'
      ? ' It will not be restarted automatically: it stopped too often. Use "LayerLab: Restart Runtime" once the cause is fixed.'
      : ` LayerLab is restarting it (restart ${c.restart.used} of ${c.restart.budget}).`;
  const lost = c.lostModel ? ` The model it held (${c.lostModel}) was unloaded: the next job loads it again.` : '';
  return what + next + lost;
}
