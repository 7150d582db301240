/**
 * The runtime process with two extra jobs for runtime-server.test.ts: `sweep` prints to stdout
 * and stderr the ways a library might (console.*, process.stdout.write), to show the protocol
 * survives it; `evaluate` is a generic long job that stops only when cancelled.
 */
import { runRuntime } from '../../runtime/server/main';
import { JOBS } from '../../runtime/server/registry';

runRuntime(process.argv.slice(2), {
  jobs: {
    ...JOBS,
    sweep: {
      summary: 'prints everywhere',
      async run(ctx) {
        console.log('console.log text %d', 42);
        console.info('console.info text');
        console.warn('console.warn text');
        console.error('console.error text');
        process.stdout.write('raw stdout write\n');
        process.stderr.write('raw stderr write\n');
        ctx.io.out('result survives');
      },
    },
    evaluate: {
      summary: 'runs until cancelled',
      async run(ctx) {
        for (let i = 0; ; i++) {
          ctx.signal.throwIfAborted();
          ctx.progress(i, 1_000_000, `batch ${i}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      },
    },
  },
});
