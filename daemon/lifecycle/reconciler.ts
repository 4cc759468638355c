// The one loop that moves machines through the lifecycle (DESIGN.md "Machine lifecycle";
// STYLE.md §7). Every tick it admits queued machines within the caps, runs the handler of every
// machine that is due (lifecycle.next_at), and writes what they decided in one transaction per
// batch. Handlers run concurrently (BMC calls take seconds), never two for one machine.
//
// Level-triggered: a handler reads where the machine is (machines.state, the lifecycle row, the
// boot plane's records) and acts from there, so a restart — a kill -9 included — resumes every
// machine from the database. A side effect done but not yet recorded (acted_at still NULL) is
// done again on restart; the BMC calls are idempotent ensures, so that is safe.
import type { Logger } from 'pino';
import { bootLookup } from '../boot/lookup.ts';
import { Limiter } from '../lib/limiter.ts';
import type { Store } from '../store/db.ts';
import { handlerFor, type HandlerDeps, type LifecycleTiming } from './handlers.ts';
import { LifecycleRows, type Outcome, type Work } from './rows.ts';
import type { BootSignals, Power, PostInstall, Reach } from './ports.ts';

export interface ReconcilerOptions {
  store: Store;
  log: Logger;
  power: Power;
  signals: BootSignals;
  reach: Reach;
  postInstall?: PostInstall;
  timing: LifecycleTiming;
  /** The install method of a profile (default: look it up in the applied inventory). */
  installMethod?: (profile: string | null) => 'image' | 'live' | undefined;
  /** At most this many machines power-cycling at once. */
  maxPowerCycling: number;
  /** At most this many machines power-cycling, PXE-booting or installing at once (the boot network's load). */
  maxInstalling: number;
  /** Handlers running at once (each may hold a BMC call). */
  concurrency?: number;
  /** How often the loop looks for due machines when nothing nudges it. */
  tickMs?: number;
  /** Machines taken per tick. */
  batch?: number;
}

export const ACTOR = 'lifecycle';
const FLUSH_MS = 10;

export class Reconciler {
  readonly rows: LifecycleRows;
  private readonly o: Required<Omit<ReconcilerOptions, 'postInstall'>> & Pick<ReconcilerOptions, 'postInstall'>;
  private readonly deps: HandlerDeps;
  private readonly limiter: Limiter;
  private readonly running = new Set<number>();
  /** Admitted from the queue, their move not yet written: counted against the caps. */
  private readonly admitting = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private again = false;
  private stopped = true;
  private pendingWrites: { w: Work; o: Outcome }[] = [];
  private flushScheduled = false;
  private inflight = new Set<Promise<void>>();
  /** Transitions written since start (the scale benchmark reads it). */
  transitions = 0;
  /** Milliseconds from a machine becoming due to its outcome being written, for the last outcomes. */
  readonly latencies: number[] = [];

  constructor(o: ReconcilerOptions) {
    const profiles = bootLookup(o.store);
    const installMethod = o.installMethod ?? ((p: string | null) => (p ? profiles.profile(p)?.install?.method : undefined));
    this.o = { concurrency: 64, tickMs: 250, batch: 2000, installMethod, ...o };
    this.rows = new LifecycleRows(o.store);
    this.deps = { power: o.power, signals: o.signals, reach: o.reach, postInstall: o.postInstall, timing: o.timing, installMethod };
    this.limiter = new Limiter(this.o.concurrency);
  }

  start(): void {
    this.stopped = false;
    this.nudge();
  }

  /** Look now (an operator acted, a boot report arrived). */
  nudge(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 0);
  }

  private now(): number {
    return this.o.store.now().getTime();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.ticking = true;
    try {
      const now = this.now();
      const work = [...this.admit(), ...this.rows.due(now, this.o.batch).filter((w) => !this.running.has(w.m.id))];
      const seen = new Set<number>();
      for (const w of work) {
        if (seen.has(w.m.id) || this.running.has(w.m.id)) continue;
        seen.add(w.m.id);
        this.run(w, now);
      }
    } catch (err) {
      this.o.log.error({ err }, 'lifecycle tick failed');
    } finally {
      this.ticking = false;
      if (!this.stopped) {
        const again = this.again;
        this.again = false;
        this.timer = setTimeout(() => void this.tick(), again ? 0 : this.o.tickMs);
      }
    }
  }

  /** Queued machines that fit under the caps now, in the order operators asked for them. */
  private admit(): Work[] {
    const { powerCycling, booting } = this.rows.inFlight();
    // Machines admitted earlier whose move to power-cycling is not written yet still count.
    const free = Math.min(this.o.maxPowerCycling - powerCycling, this.o.maxInstalling - booting) - this.admitting.size;
    if (free <= 0) return [];
    const admitted = this.rows.waiting(free).filter((w) => !this.running.has(w.m.id));
    for (const w of admitted) this.admitting.add(w.m.id);
    return admitted;
  }

  private run(w: Work, dueSince: number): void {
    const handler = handlerFor(w.m.state);
    if (!handler) {
      // Nothing to do in this state (failed, maintenance…): stop polling it.
      this.queueWrite(w, { from: w.m.state, patch: { nextAt: null } }, dueSince);
      return;
    }
    this.running.add(w.m.id);
    const p = this.limiter
      .run(async () => {
        let o: Outcome;
        try {
          o = await handler(w, this.now(), this.deps);
        } catch (err) {
          this.o.log.error({ err, machine: w.m.name, state: w.m.state }, 'lifecycle handler failed');
          o = { from: w.m.state, patch: { nextAt: this.now() + this.o.timing.bmcBackoffMs } };
        }
        this.queueWrite(w, o, dueSince);
      })
      .finally(() => {
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  /**
   * Outcomes are written together (a group commit): every commit costs an fsync, so outcomes
   * that finish within FLUSH_MS of each other share one. A handler's outcome is at most
   * FLUSH_MS late; a lost batch (a crash) only means its handlers run again.
   */
  private queueWrite(w: Work, o: Outcome, dueSince: number): void {
    this.pendingWrites.push({ w, o });
    this.latencies.push(this.now() - dueSince);
    if (this.latencies.length > 20_000) this.latencies.splice(0, 10_000);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    this.flushScheduled = false;
    const items = this.pendingWrites;
    this.pendingWrites = [];
    if (!items.length) return;
    try {
      const written = this.rows.apply(items, ACTOR);
      for (const { w, o } of written) {
        if (o.to !== undefined && o.to !== o.from) {
          this.transitions++;
          this.o.log.info({ machine: w.m.name, from: o.from, to: o.to, reason: o.reason }, 'machine state');
        }
      }
    } catch (err) {
      this.o.log.error({ err, outcomes: items.length }, 'writing lifecycle outcomes failed; they will be redone');
    } finally {
      for (const { w } of items) {
        this.running.delete(w.m.id);
        this.admitting.delete(w.m.id);
      }
      this.nudge();
    }
  }

  /** Stops the loop and waits for running handlers (their outcomes are still written). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inflight]);
    this.flush();
  }
}
