// The lab's live view of its machines: one row per machine — ironbay's state, how long it has
// been in it and why, and what the lab itself sees of the machine (qemu running or not) and of
// its BMC (the last thing the chassis was asked or did). Redrawn in place on a terminal; as
// one line per change otherwise (CI logs, the end-to-end test).

export interface MachineRow {
  name: string;
  firmware: string;
  /** ironbay's lifecycle state. */
  state: string;
  stateSince: string;
  stateReason: string | null;
  /** qemu running (what the BMC reports as chassis power). */
  power: 'on' | 'off';
  /** The chassis's stored boot device and its last event, e.g. "boot=default · vm start boot=pxe". */
  bmc: string;
}

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

/** The table as lines; `now` is epoch ms. Reason and BMC columns are clipped to `width`. */
export function renderTable(rows: MachineRow[], now: number, width = 120): string[] {
  const cells = rows.map((r) => [r.name, r.firmware, r.state, duration(now - Date.parse(r.stateSince)), r.power, r.stateReason ?? '', r.bmc]);
  const head = ['MACHINE', 'FW', 'STATE', 'IN STATE', 'POWER', 'REASON', 'BMC'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fixed = widths.slice(0, 5).reduce((a, b) => a + b + 2, 0);
  const rest = Math.max(20, width - fixed);
  widths[5] = Math.min(widths[5]!, Math.floor(rest * 0.5));
  widths[6] = Math.min(widths[6]!, rest - widths[5] - 2);
  const line = (c: string[]): string =>
    c
      .map((x, i) => clip(x, widths[i]!).padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
      // A line that wraps would throw the in-place redraw off.
      .slice(0, Math.max(20, width - 1));
  return [line(head), ...cells.map(line)];
}

/** Prints tables as they change: in place on a TTY, else one line per machine whose row changed. */
export class Progress {
  private readonly tty: boolean;
  private drawn = 0;
  private readonly last = new Map<string, string>();
  private readonly out: NodeJS.WriteStream;

  constructor(out: NodeJS.WriteStream = process.stdout) {
    this.out = out;
    this.tty = out.isTTY;
  }

  update(rows: MachineRow[], now = Date.now()): void {
    if (this.tty) {
      const lines = renderTable(rows, now, this.out.columns || 120);
      // Up to the table's first line, then each line rewritten and cleared to its end.
      let s = this.drawn ? `\x1b[${this.drawn}A` : '';
      for (const l of lines) s += `\r${l}\x1b[K\n`;
      this.out.write(s);
      this.drawn = lines.length;
      return;
    }
    for (const r of rows) {
      // Times change every second: a row is "changed" when what it says changed.
      const key = `${r.state}|${r.stateReason ?? ''}|${r.power}|${r.bmc}`;
      if (this.last.get(r.name) === key) continue;
      this.last.set(r.name, key);
      const reason = r.stateReason ? ` (${r.stateReason})` : '';
      this.out.write(`${new Date(now).toISOString().slice(11, 19)} ${r.name} ${r.state}${reason}; power ${r.power}; bmc ${r.bmc}\n`);
    }
  }

  /** Forget the drawn table (after other output), so the next update draws anew below it. */
  detach(): void {
    this.drawn = 0;
  }
}
