/**
 * The runtime process with two handlers replaced, for runtime-server.test.ts: `sweep` prints to
 * stdout and stderr the ways a library might (console.*, process.stdout.write), to show the
 * protocol survives it; `evaluate` is a generic long job that stops only when cancelled.
 */
import { runRuntime } from '../../runtime/server/main';

const accuracy = { correct: 0, total: 0, unparsed: 0, accuracy: 0, ci95: [0, 1] as [number, number] };

runRuntime(process.argv.slice(2), {
  handlers: {
    async sweep() {
      console.log('console.log text %d', 42);
      console.info('console.info text');
      console.warn('console.warn text');
      console.error('console.error text');
      process.stdout.write('raw stdout write\n');
      process.stderr.write('raw stderr write\n');
      return { runFile: 'result survives', lines: [], summaries: [{ id: 'baseline', reasoning: accuracy, memorization: accuracy }], itemsPerSecond: 0, warnings: [] };
    },
    async evaluate(_params, ctx) {
      for (let i = 0; ; i++) {
        ctx.signal.throwIfAborted();
        ctx.progress(i, 1_000_000, `batch ${i}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  },
});
