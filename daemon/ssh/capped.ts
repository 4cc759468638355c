// A step's output, kept within a byte budget: the head and the tail, since a failing command
// explains itself at the end and names what it was doing at the start. The full size is
// counted so the record says how much was not kept.
export class CappedOutput {
  private readonly half: number;
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Every byte seen. */
  total = 0;

  constructor(cap: number) {
    this.half = Math.max(1, Math.floor(cap / 2));
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.headBytes < this.half) {
      const take = Math.min(this.half - this.headBytes, chunk.length);
      this.head.push(chunk.subarray(0, take));
      this.headBytes += take;
      chunk = chunk.subarray(take);
      if (!chunk.length) return;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    // Trim the tail from the front only once it holds twice its budget: amortised O(1).
    if (this.tailBytes > 2 * this.half) this.trimTail();
  }

  private trimTail(): void {
    const all = Buffer.concat(this.tail);
    const kept = all.subarray(all.length - this.half);
    this.tail = [kept];
    this.tailBytes = kept.length;
  }

  get truncated(): boolean {
    return this.total > this.headBytes + Math.min(this.tailBytes, this.half);
  }

  /** The whole output when nothing was dropped. */
  full(): string | undefined {
    return this.truncated ? undefined : Buffer.concat([...this.head, ...this.tail]).toString('utf8');
  }

  /** What is stored: the head, a note of what was dropped, the tail. */
  text(): string {
    if (this.tailBytes > this.half) this.trimTail();
    const head = Buffer.concat(this.head).toString('utf8');
    const tail = Buffer.concat(this.tail).toString('utf8');
    if (!this.truncated) return head + tail;
    const dropped = this.total - this.headBytes - this.tailBytes;
    return `${head}\n[ironbay: ${dropped} bytes not kept; the output was ${this.total} bytes, the cap is ${2 * this.half}]\n${tail}`;
  }
}
