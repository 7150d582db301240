import { openModel } from './runtime/openModel';
import { generateGreedy } from './runtime/generate';
(async () => {
  const t0 = Date.now();
  const o = await openModel(process.argv[2], { provider: 'cpu', threads: 1, graphCacheDir: process.argv[4], weights: process.argv[3] as any });
  const open = (Date.now() - t0) / 1000;
  const prompt = Array.from({ length: 128 }, (_, k) => 3 + k);
  await o.model.forward([prompt]);
  const pre: number[] = [], dec: number[] = [];
  let ids: number[] = [];
  for (let r = 0; r < 3; r++) {
    let c = process.cpuUsage(); await o.model.forward([prompt]); c = process.cpuUsage(c); pre.push((c.user + c.system) / 1000);
    c = process.cpuUsage(); ids = (await generateGreedy(o.model, o.tokenizer, [prompt.slice(0, 16)], { maxNewTokens: 16, stopAtEos: false }))[0].ids; c = process.cpuUsage(c); dec.push((c.user + c.system) / 1000 / 16);
  }
  const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
  console.log(process.argv[3], 'acc', process.env.LL_ACC ?? 4, 'open s', open, 'weights MB', (o.model.spec.weightsBytes / 1e6).toFixed(0), 'prefill tok/s', (128000 / med(pre)).toFixed(0), 'decode tok/s', (1000 / med(dec)).toFixed(1), 'ids', ids.slice(0, 8).join(','));
})();
