// Parses and validates an inventory file in a separate, short-lived process. Checking a
// 10,000-machine file takes most of a second and a few hundred MB of transient heap. Done
// here, it never stalls the daemon's event loop (DHCP and the API keep answering during a
// reload), and the memory goes back to the system when the process exits — which neither
// the daemon's own heap nor a worker thread's does (V8 and malloc keep the peak).
import { enableCompileCache } from 'node:module';

// Before the validator's modules load: a fresh process per reload should not recompile them.
enableCompileCache();
const { loadInventory } = await import('../../inventory/validate.ts');
const { prepareInventory } = await import('./apply.ts');

process.once('message', (msg) => {
  const { file, text } = msg as { file: string; text: string };
  const r = loadInventory(file, text);
  process.send!(r.ok ? { ok: true, inventory: prepareInventory(r.inventory) } : r);
});
