// Benchmark results: medians and the printed table (target, workload, median TPS, ratios, proxy CPU).
// Pure formatting; no processes, no I/O besides returning text.

export type Sample = { tps: number; transactions: number; cpuSeconds: number | null };
export type Cell = { samples: Sample[]; errors: string[] };
export type Results = Map<string, Map<string, Cell>>; // workload -> target -> cell

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function record(results: Results, workload: string, target: string): Cell {
  let byTarget = results.get(workload);
  if (!byTarget) results.set(workload, (byTarget = new Map()));
  let cell = byTarget.get(target);
  if (!cell) byTarget.set(target, (cell = { samples: [], errors: [] }));
  return cell;
}

export type Row = {
  workload: string; target: string; medianTps: number; mbPerSec: number | null;
  vsDirect: number | null; vsPgbouncer: number | null; cpuPer1000Tx: number | null; runs: number; errors: number;
};

export function rows(results: Results, bytesPerTx: Map<string, number>): Row[] {
  const out: Row[] = [];
  for (const [workload, byTarget] of results) {
    const tps = (t: string): number | null => {
      const c = byTarget.get(t);
      return c && c.samples.length ? median(c.samples.map((s) => s.tps)) : null;
    };
    const direct = tps('direct');
    const bouncer = tps('pgbouncer');
    for (const [target, cell] of byTarget) {
      const m = tps(target) ?? Number.NaN;
      const cpu = cell.samples.filter((s) => s.cpuSeconds !== null && s.transactions > 0)
        .map((s) => (s.cpuSeconds! / s.transactions) * 1000);
      const bytes = bytesPerTx.get(workload);
      out.push({
        workload, target, medianTps: m, mbPerSec: bytes ? (m * bytes) / 1e6 : null,
        vsDirect: direct ? m / direct : null, vsPgbouncer: bouncer ? m / bouncer : null,
        cpuPer1000Tx: cpu.length ? median(cpu) : null, runs: cell.samples.length, errors: cell.errors.length,
      });
    }
  }
  return out;
}

const fmt = (v: number | null, digits: number): string => (v === null || Number.isNaN(v) ? '-' : v.toFixed(digits));

export function table(all: Row[]): string {
  const header = ['workload', 'target', 'median TPS', 'MB/s', 'vs direct', 'vs PgBouncer', 'CPU s/1000 tx', 'runs', 'errors'];
  const body = all.map((r) => [
    r.workload, r.target, fmt(r.medianTps, 0), fmt(r.mbPerSec, 1), fmt(r.vsDirect, 2), fmt(r.vsPgbouncer, 2),
    fmt(r.cpuPer1000Tx, 3), String(r.runs), String(r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]): string => cols.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
