/**
 * V8 flags the daemon runs with, wherever it is started: the systemd unit, `npm start`, the
 * tests and benchmarks (a test keeps them in step). V8 reads them only at process start.
 *
 * --max-semi-space-size=2: V8 sizes the young generation up to 3 × 16 MB and keeps it after a
 * burst — an inventory apply or a 10,000-machine list — so an idle daemon held ~45 MB more
 * than it uses. With 2 MB the scavenges are more frequent but each is cheap; bench/inventory.ts
 * showed no loss in apply or list times.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * Environment the daemon runs with, likewise kept in step with the unit and `npm start`.
 *
 * MALLOC_MMAP_THRESHOLD_: glibc raises its mmap threshold each time a large block is freed,
 * after which multi-MB buffers (an inventory read, a 10,000-machine list) come from the
 * brk heap and stay there; bench/inventory.ts saw RSS grow ~15 MB with every inventory edit.
 * A fixed threshold keeps such blocks in their own mappings, returned when freed.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };
