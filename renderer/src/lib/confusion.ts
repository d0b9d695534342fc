/** Pure helpers for the confusion matrix: class orderings and the most confused pairs. */
export type Order = 'listed' | 'recall' | 'clustered';

export function confusedPairs(m: number[][], limit: number): { t: number; p: number; count: number }[] {
  const out: { t: number; p: number; count: number }[] = [];
  m.forEach((row, t) => row.forEach((count, p) => t !== p && count > 0 && out.push({ t, p, count })));
  return out.sort((a, b) => b.count - a.count || a.t - b.t).slice(0, limit);
}

/** Class indices in display order. "clustered": greedily places next the class most confused with the last one. */
export function orderClasses(m: number[][], order: Order): number[] {
  const n = m.length;
  const all = [...Array(n).keys()];
  const recall = (i: number) => {
    const total = m[i].reduce((a, b) => a + b, 0);
    return total ? m[i][i] / total : 1;
  };
  if (order === 'recall') return all.sort((a, b) => recall(a) - recall(b) || a - b);
  if (order === 'listed') return all;
  const confusion = (a: number, b: number) => (a === b ? 0 : m[a][b] + m[b][a]);
  const errors = (i: number) => all.reduce((s, j) => s + confusion(i, j), 0);
  const left = new Set(all);
  const out: number[] = [];
  while (left.size) {
    const last = out.at(-1);
    let best = -1;
    let score = -1;
    for (const c of left) {
      const s = last === undefined || confusion(last, c) === 0 ? errors(c) / 1e6 : confusion(last, c);
      if (s > score) [best, score] = [c, s];
    }
    out.push(best);
    left.delete(best);
  }
  return out;
}
