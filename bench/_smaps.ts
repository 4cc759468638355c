import { readFileSync, writeFileSync } from 'node:fs';
import { generateInventory } from './generate-inventory.ts';
import { TestDaemon } from '../test/helpers/daemon.ts';
const d = await TestDaemon.start({ inventory: generateInventory(), logLevel: 'info' });
const pid = d.proc.pid!;
const show = (l: string) => {
  const by = new Map<string, number>();
  let cur = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) { cur = (head[1] || '[anon]').split('/').pop()!; continue; }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) by.set(cur, (by.get(cur) ?? 0) + Number(m[1]));
  }
  console.log(l.padEnd(14), [...by].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k}=${Math.round(v / 1024)}MB`).join(' '));
};
show('after start');
await d.api('GET', '/api/v1/machines');
show('after GET');
for (let i = 0; i < 4; i++) {
  const mark = d.logs.length;
  writeFileSync(d.inventoryFile, generateInventory({ flipEdit: i % 2 === 0 }));
  await d.waitForLog((l) => l.msg === 'inventory applied', 20000, mark);
  show(`edit ${i}`);
  await d.api('GET', '/api/v1/machines');
  show(`edit ${i} + GET`);
}
d.cleanup();
