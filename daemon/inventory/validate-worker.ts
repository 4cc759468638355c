// Parses and validates an inventory file off the main thread. A 10,000-machine file takes
// most of a second and a few hundred MB of transient heap to check; in a worker neither
// stalls the daemon's event loop (DHCP and the API keep answering during a reload) nor
// stays behind in the daemon's heap once the worker exits.
import { parentPort, workerData } from 'node:worker_threads';
import { loadInventory } from '../../inventory/validate.ts';

const { file, text } = workerData as { file: string; text: string };
parentPort!.postMessage(loadInventory(file, text));
