/**
 * The few statistics LayerLab reports, written out because each is a handful of lines and the
 * exact definitions matter for comparing with papers.
 */

/**
 * Area under the ROC curve of `pos` scores against `neg` scores: the probability that a random
 * positive scores above a random negative, ties counting one half (Mann–Whitney U / (n₊n₋)).
 */
export function auc(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  if (pos.length === 0 || neg.length === 0) return NaN;
  const all = [...Array.from(pos, (v) => ({ v, p: 1 })), ...Array.from(neg, (v) => ({ v, p: 0 }))].sort((a, b) => a.v - b.v);
  // Sum of positive ranks with average ranks for ties.
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k].p) rankSum += avgRank;
    i = j + 1;
  }
  const nPos = pos.length;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * neg.length);
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Sample variance (n − 1 denominator). */
export function variance(xs: ArrayLike<number>): number {
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return s / (xs.length - 1);
}

/** Cohen's d with the pooled standard deviation: (mean₁ − mean₂) / s_pooled. */
export function cohensD(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length < 2 || b.length < 2) return NaN;
  const pooled = ((a.length - 1) * variance(a) + (b.length - 1) * variance(b)) / (a.length + b.length - 2);
  return (mean(a) - mean(b)) / Math.sqrt(pooled);
}

/** Pearson correlation coefficient. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length || x.length < 2) return NaN;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}
