// Answers router solicitations on the boot interfaces with an advertisement that configures
// nothing (codec/ndp.ts says why), and sends one unsolicited every UNSOLICITED_MS for clients
// whose solicitation came before we listened. The raw ICMPv6 socket comes from the native
// helper, bound to the device; Node cannot poll it, so it is drained on a short timer — a
// solicitation is answered within POLL_MS, cheap next to the seconds it saves.
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { netsock } from '../native/netsock.ts';
import { encodeEmptyRouterAdvertisement, isRouterSolicitation } from './codec/ndp.ts';

const POLL_MS = 100;
const UNSOLICITED_MS = 10_000;
const ALL_NODES = 'ff02::1';

export interface RouterAdvertiser {
  stats(): { solicitations: number; advertisements: number; errors: number };
  close(): void;
}

export function startRouterAdvertiser(devices: readonly string[], log: Logger): RouterAdvertiser {
  const addon = netsock();
  const stats = { solicitations: 0, advertisements: 0, errors: 0 };
  const buf = Buffer.alloc(1500);
  const links = devices.map((device) => {
    const mac = networkInterfaces()[device]?.[0]?.mac;
    return { device, fd: addon.openIcmp6(device), ra: Buffer.from(encodeEmptyRouterAdvertisement(mac && mac !== '00:00:00:00:00:00' ? mac : undefined)) };
  });
  const advertise = (l: (typeof links)[number]): void => {
    try {
      addon.sendIcmp6(l.fd, l.device, ALL_NODES, l.ra);
      stats.advertisements++;
    } catch (err) {
      // No link-local address yet (interface just came up), or the buffer is full: the next
      // solicitation or tick tries again.
      stats.errors++;
      log.debug({ err, device: l.device }, 'router advertisement not sent');
    }
  };
  const poll = setInterval(() => {
    for (const l of links) {
      let solicited = false;
      for (;;) {
        let got: { bytes: number } | null;
        try {
          got = addon.recvIcmp6(l.fd, buf);
        } catch (err) {
          stats.errors++;
          log.debug({ err, device: l.device }, 'ICMPv6 receive failed');
          break;
        }
        if (!got) break;
        if (isRouterSolicitation(buf.subarray(0, got.bytes))) {
          stats.solicitations++;
          solicited = true;
        }
      }
      // One advertisement answers every solicitation of this tick (RFC 4861 §6.2.6 rate-limits too).
      if (solicited) advertise(l);
    }
  }, POLL_MS);
  const periodic = setInterval(() => links.forEach(advertise), UNSOLICITED_MS);
  poll.unref();
  periodic.unref();
  links.forEach(advertise);
  return {
    stats: () => ({ ...stats }),
    close: () => {
      clearInterval(poll);
      clearInterval(periodic);
      for (const l of links) addon.closeFd(l.fd);
    },
  };
}
