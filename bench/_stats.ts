// What the benchmarks measure besides wall time — CPU from /proc (the client and its waited-for
// children; a peer's process and the children it reaps) — and the statistics and tables they print.
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second (USER_HZ): 100 on Linux. */
const CLK_TCK = 100;

/** /proc/PID/stat after "(comm) ": field 1 is the state, 12–15 utime, stime, cutime, cstime. */
function statFields(pid: number | 'self'): string[] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return f.slice(f.lastIndexOf(')') + 2).split(' ');
}

/** CPU of this process's waited-for children (cutime + cstime). */
export function childrenCpuMs(): number {
  const f = statFields('self');
  return ((Number(f[13]) + Number(f[14])) / CLK_TCK) * 1000;
}

/** This process's CPU and its waited-for children's, ms. */
export function clientCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000 + childrenCpuMs();
}

/** utime + stime + cutime + cstime of each process, ms: a server and the workers it reaps. A process that is gone counts nothing. */
export function processCpuMs(pids: readonly (number | undefined)[]): number {
  let ticks = 0;
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      ticks += statFields(pid)
        .slice(11, 15)
        .reduce((a, x) => a + Number(x), 0);
    } catch {
      // Gone: its work will show up as failures.
    }
  }
  return (ticks / CLK_TCK) * 1000;
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

export const fmt = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));

/** A plain-text table: the first column left-aligned, figures right-aligned. */
export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}
