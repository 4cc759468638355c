// Starts N test BMCs in their own process (a benchmark wants ~1000 BMCs outside the client's
// event loop), prints their ports as one JSON line on stdout, and serves until SIGTERM or
// SIGINT; then it prints the summed counters as a second JSON line and exits 0.
//
//   node test/helpers/ipmi-test-bmc-main.ts --count 1000 [--options '{"suites":[17],"lossRate":0.01}']
//   → {"host":"127.0.0.1","ports":[40001,…]}
//   ← SIGTERM
//   → {"stopped":true,"counters":{"datagrams":…,"sessionsOpened":…,…},"errors":0}
//
// --options is TestBmcOptions as JSON (no `now`). Node raises its soft descriptor limit to the
// hard one at start, so a thousand sockets fit where `ulimit -Hn` allows them.
import { parseArgs } from 'node:util';
import { startTestBmcs, TEST_BMC_HOST, type TestBmc, type TestBmcCounters, type TestBmcOptions } from './ipmi-test-bmc.ts';

function usage(message: string): never {
  process.stderr.write(`ipmi-test-bmc-main: ${message}\nusage: ipmi-test-bmc-main.ts --count N [--options JSON]\n`);
  process.exit(2);
}

function readArgs(): { count: number; options: TestBmcOptions } {
  let values: { count?: string; options?: string };
  try {
    ({ values } = parseArgs({ options: { count: { type: 'string' }, options: { type: 'string' } }, strict: true }));
  } catch (e) {
    return usage((e as Error).message);
  }
  const count = Number(values.count ?? '1');
  if (!Number.isInteger(count) || count < 1 || count > 60_000) usage(`--count ${values.count} is not a number of BMCs (1–60000)`);
  let options: TestBmcOptions = {};
  if (values.options !== undefined) {
    try {
      options = JSON.parse(values.options) as TestBmcOptions;
    } catch (e) {
      usage(`--options is not JSON: ${(e as Error).message}`);
    }
    if (typeof options !== 'object' || Array.isArray(options)) usage('--options must be a JSON object');
  }
  return { count, options };
}

function total(bmcs: readonly TestBmc[]): TestBmcCounters {
  const sum: TestBmcCounters = {
    datagrams: 0, lost: 0, ignored: 0, rejected: {}, replies: 0, sessionsOpened: 0, sessionsClosed: 0, sessionsTimedOut: 0, sessionsForgotten: 0, commands: 0, duplicates: 0,
  };
  for (const b of bmcs) {
    for (const [k, v] of Object.entries(b.counters) as [keyof TestBmcCounters, unknown][]) {
      if (k === 'rejected') for (const [r, n] of Object.entries(b.counters.rejected)) sum.rejected[r] = (sum.rejected[r] ?? 0) + n;
      else sum[k] += v as number;
    }
  }
  return sum;
}

const { count, options } = readArgs();
let bmcs: TestBmc[];
try {
  bmcs = await startTestBmcs(count, options);
} catch (e) {
  usage((e as Error).message);
}
process.stdout.write(`${JSON.stringify({ host: TEST_BMC_HOST, ports: bmcs.map((b) => b.port) })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void Promise.all(bmcs.map((b) => b.stop())).then(() => {
    const errors = bmcs.reduce((n, b) => n + b.errors.length, 0);
    process.stdout.write(`${JSON.stringify({ stopped: true, counters: total(bmcs), errors })}\n`, () => process.exit(0));
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
