// Inventory validation in a short-lived child process; see validate-child.ts for why.
import { fork } from 'node:child_process';
import type { SourceError } from '../lib/yaml-source.ts';
import type { PreparedInventory } from './apply.ts';

export type PreparedResult = { ok: true; inventory: PreparedInventory } | { ok: false; errors: SourceError[] };

const CHILD = new URL('./validate-child.ts', import.meta.url);
// Far above what 10,000 machines take (under a second); a stuck child must not stall reloads.
const TIMEOUT_MS = 120_000;

export function validateOffThread(file: string, text: string): Promise<PreparedResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      timeout: TIMEOUT_MS,
      // Not the daemon's small-heap flags (DAEMON_NODE_FLAGS): parsing allocates heavily and a
      // 2 MB semi-space doubled its time. A large young generation costs nothing here, since the
      // process exits as soon as it answers.
      execArgv: ['--max-semi-space-size=64'],
    });
    let result: PreparedResult | undefined;
    child.once('message', (r) => {
      result = r as PreparedResult;
      child.disconnect();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (result) resolve(result);
      else reject(new Error(`inventory validation process ended (${signal ?? `exit code ${code}`}) without a result`));
    });
    child.send({ file, text });
  });
}
