// Temporary directories named PREFIX<pid>-…: their owner's pid is in the name, so a later run
// removes what a killed run left behind (its own cleanup never ran).
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function sweepOrphanDirs(prefix: string): void {
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${prefix}(\\d+)-`).exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}
