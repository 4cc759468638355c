// "Is it up on the production network?": a TCP connection to the machine's production
// address and an SSH identification line (RFC 4253 §4.2: "SSH-protoversion-…") within a
// deadline. A real login follows in the post-install runbook (post-install.ts) when one is configured.
import { connect } from 'node:net';
import type { MachineRecord } from '../store/machines.ts';
import type { Reach } from './ports.ts';

export function sshBanner(defaultPort: number, timeoutMs: number): Reach {
  return {
    reachable(m: MachineRecord) {
      const cidr = m.spec.production?.address;
      if (!cidr) return Promise.resolve({ ok: false, detail: `${m.name} has no production address in the inventory` });
      const host = cidr.split('/')[0]!;
      const port = m.spec.ssh?.port ?? defaultPort;
      return new Promise((resolve) => {
        let buf = '';
        const s = connect({ host, port, timeout: timeoutMs });
        const done = (ok: boolean, detail: string): void => {
          s.destroy();
          resolve({ ok, detail });
        };
        s.setEncoding('latin1');
        s.on('data', (d: string) => {
          buf += d;
          const nl = buf.indexOf('\n');
          if (nl >= 0 || buf.length > 255) {
            const line = buf.slice(0, nl >= 0 ? nl : 255).replace(/\r$/, '');
            done(line.startsWith('SSH-'), line.startsWith('SSH-') ? `${host}:${port} ${line}` : `${host}:${port} answered "${line.slice(0, 60)}", not SSH`);
          }
        });
        s.on('timeout', () => done(false, `${host}:${port}: no SSH banner within ${timeoutMs} ms`));
        s.on('error', (e: NodeJS.ErrnoException) => done(false, `${host}:${port}: ${e.code ?? e.message}`));
        s.on('end', () => done(false, `${host}:${port}: closed before an SSH banner`));
      });
    },
  };
}
