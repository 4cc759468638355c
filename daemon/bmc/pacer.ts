// Spaces starts evenly: at most `rate` per second, in arrival order. Power-ons go through it so
// that a rack switched on from one command draws its inrush current, and asks the boot network
// for DHCP, one machine at a time rather than all at once.
export class Pacer {
  private next = 0;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(ratePerSecond: number, now: () => number = () => performance.now()) {
    if (!(ratePerSecond > 0)) throw new RangeError(`pacer rate must be positive, not ${ratePerSecond}`);
    this.intervalMs = 1000 / ratePerSecond;
    this.now = now;
  }

  /** The delay before the caller's turn, reserving the slot. */
  reserve(): number {
    const t = this.now();
    const slot = Math.max(t, this.next);
    this.next = slot + this.intervalMs;
    return slot - t;
  }

  async wait(): Promise<void> {
    const ms = this.reserve();
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }
}
