// Inbound session sequence numbers (IPMI v2.0 §6.12.13): a packet is accepted once, and only
// if it is not far behind the highest number seen. Stops a captured packet being replayed into
// the session and a duplicated datagram being taken for a second answer.
const WINDOW = 32;

export class ReplayWindow {
  private top = 0;
  /** Bit i set: top - i was seen. */
  private seen = 0;

  accept(seq: number): boolean {
    if (seq === 0) return false; // §6.12.13: 0 is never valid inside a session
    if (this.top === 0) {
      this.top = seq;
      this.seen = 1;
      return true;
    }
    const ahead = (seq - this.top) >>> 0;
    if (ahead !== 0 && ahead < 0x80000000) {
      if (ahead > WINDOW) return false; // a jump this far is not this BMC's next answer
      this.seen = ahead >= WINDOW ? 1 : ((this.seen << ahead) | 1) >>> 0;
      this.top = seq;
      return true;
    }
    const behind = (this.top - seq) >>> 0;
    if (behind >= WINDOW) return false;
    const bit = (1 << behind) >>> 0;
    if (this.seen & bit) return false;
    this.seen = (this.seen | bit) >>> 0;
    return true;
  }
}
