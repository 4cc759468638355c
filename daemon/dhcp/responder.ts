// What the DHCP server answers to one decoded request: RFC 2131's state rules, the lease
// book, the inventory and the boot decision, with no socket and no clock (the server passes
// `now`). The server calls it inside one store transaction per batch of packets and sends the
// replies only after that transaction has committed — no ACK ever leaves for a lease that is
// not yet on disk.
import { buildReply, getOption, maxReplyLength, option, type DhcpMessage, type DhcpOption, type KnownOptions } from './codec/index.ts';
import { decideBoot, type BootDecision } from './boot-decision.ts';
import { poolContains, type LeaseBook } from './leases.ts';
import { maskText, type BootNet, type BootView, type KnownMachine } from './view.ts';

export type DhcpMode = 'reservation' | 'discovery' | 'proxy';

/** Where a request came in. */
export interface Ingress {
  device: string;
  /** Our IPv4 addresses on that device. */
  localAddresses: readonly string[];
  /** 'proxy' for the PXE boot server port (4011). */
  port: 'dhcp' | 'proxy';
  from: { address: string; port: number };
}

export interface ResponderConfig {
  mode: DhcpMode;
  /** The address clients fetch boot files from (TFTP siaddr, HTTP URLs). */
  advertise: string;
  /** Boot HTTP base URL, no trailing slash. */
  httpBase: string;
  hasAsset(name: string): boolean;
  /** Where unrelayed replies go (68) and relayed ones (67). */
  clientPort: number;
  serverPort: number;
}

/** Why a request got no answer; each is a metric label. */
export const DROP_REASONS = {
  'not-a-request': 'a BOOTREPLY, or a message type a server never receives',
  'no-message-type': 'no valid option 53: a plain BOOTP request, not served',
  'unknown-client': 'the MAC is not in the inventory (reservation mode)',
  retired: 'the machine is retired: never answered on the boot network again',
  'no-network': 'no boot network in the inventory contains the interface or relay address',
  'other-server': "the client chose another server's offer",
  'not-ours': "the client's address is not one we gave it (RFC 2131 §4.3.2: stay silent)",
  'pool-exhausted': 'no free address in the pool',
  'not-network-boot': 'proxy mode answers only network-boot clients (PXEClient, HTTPClient, iPXE)',
  'no-chaddr': 'no Ethernet MAC in chaddr',
  overload: 'more requests queued than the server takes at once; the oldest was dropped',
} as const;
export type DropReason = keyof typeof DROP_REASONS;

export type Outcome =
  | { kind: 'reply'; message: Omit<DhcpMessage, 'mac'>; to: { address: string; port: number }; maxLength: number; type: 'OFFER' | 'ACK' | 'NAK'; decision?: BootDecision }
  | { kind: 'drop'; reason: DropReason; detail?: string }
  /** Handled, nothing to send (RELEASE, DECLINE). */
  | { kind: 'done'; what: 'released' | 'declined' | 'ignored'; address?: string };

/** A side effect the server records after commit: boot timeline stages and events. */
export interface Observation {
  mac: string;
  machine?: KnownMachine;
  stage: 'dhcp-discover' | 'dhcp-offer' | 'dhcp-ack' | 'dhcp-nak' | 'dhcp-decline' | 'dhcp-release' | 'dhcp-inform' | 'proxy-offer' | 'proxy-ack';
  detail: string;
}

const ZERO = '0.0.0.0';
const BROADCAST = '255.255.255.255';

export class Responder {
  private readonly cfg: ResponderConfig;
  private readonly view: BootView;
  private readonly leases: LeaseBook;
  private readonly discover: (mac: string) => KnownMachine;
  private readonly optionCache = new WeakMap<BootNet, { link: DhcpOption[]; lease: DhcpOption[] }>();

  /** `discovered` registers an unknown MAC as a discovered machine (discovery mode) and returns it. */
  constructor(cfg: ResponderConfig, view: BootView, leases: LeaseBook, discovered: (mac: string) => KnownMachine) {
    this.cfg = cfg;
    this.view = view;
    this.leases = leases;
    this.discover = discovered;
  }

  handle(req: DhcpMessage, known: KnownOptions, ingress: Ingress, now: number, observe: (o: Observation) => void): Outcome {
    if (req.op !== 'BOOTREQUEST') return { kind: 'drop', reason: 'not-a-request' };
    const mac = req.mac;
    if (!mac) return { kind: 'drop', reason: 'no-chaddr' };
    const type = known.messageType;
    if (!type) return { kind: 'drop', reason: 'no-message-type' };
    const machine = this.view.machine(mac);
    if (machine?.state === 'retired') return { kind: 'drop', reason: 'retired', detail: machine.name };

    if (this.cfg.mode === 'proxy' || ingress.port === 'proxy') return this.proxy(req, known, ingress, machine, observe);

    const net = this.networkFor(req, known, ingress);
    if (!net) return { kind: 'drop', reason: 'no-network', detail: req.giaddr !== ZERO ? `relay ${req.giaddr}` : `interface ${ingress.device}` };
    if (!machine && this.cfg.mode === 'reservation') return { kind: 'drop', reason: 'unknown-client', detail: mac };
    if (machine?.state === 'discovered' && this.cfg.mode !== 'discovery') return { kind: 'drop', reason: 'unknown-client', detail: `${mac} (discovered)` };
    const serverId = this.serverIdFor(req, ingress);
    const clientId = known.clientId ? hex(getOption(req, 61)!.data) : undefined;
    const staticAddress = machine?.bootAddress && this.inNet(net, machine.bootAddress) ? machine.bootAddress : undefined;
    const leaseMs = net.leaseSeconds * 1000;

    switch (type) {
      case 'DISCOVER': {
        observe({ mac, ...(machine ? { machine } : {}), stage: 'dhcp-discover', detail: via(req, ingress) });
        const r = this.leases.offer(mac, now, {
          ...(staticAddress ? { staticAddress } : {}),
          ...(net.spec.pool ? { pool: net.spec.pool } : {}),
          ...(known.requestedIp ? { requested: known.requestedIp } : {}),
          ...(clientId ? { clientId } : {}),
          reserved: net.reserved,
        });
        if (!r.ok) return { kind: 'drop', reason: 'pool-exhausted', detail: r.reason };
        const decision = this.decide(known, mac);
        observe({ mac, ...(machine ? { machine } : {}), stage: 'dhcp-offer', detail: `${r.address}${bootNote(decision)}` });
        return this.reply(req, known, ingress, { type: 'OFFER', serverId, yiaddr: r.address, net, decision, machine });
      }
      case 'REQUEST': {
        // RFC 2131 §4.3.2: SELECTING carries 54 and 50; INIT-REBOOT 50 and no 54; RENEWING and
        // REBINDING neither, with the address in ciaddr.
        if (known.serverId !== undefined && !this.isOurs(known.serverId, ingress)) {
          const offered = this.leases.current(mac, now);
          if (offered?.state === 'offered') this.leases.withdraw(mac, offered.address, now);
          return { kind: 'drop', reason: 'other-server', detail: known.serverId };
        }
        const address = known.requestedIp ?? (req.ciaddr !== ZERO ? req.ciaddr : undefined);
        const nak = (why: string): Outcome => {
          observe({ mac, ...(machine ? { machine } : {}), stage: 'dhcp-nak', detail: why });
          return this.reply(req, known, ingress, { type: 'NAK', serverId, net, message: why, machine });
        };
        if (!address) return nak('no requested address');
        if (!this.inNet(net, address)) return nak(`${address} is not on boot network ${net.spec.name} (${net.spec.subnet})`);
        if (staticAddress && address !== staticAddress) return nak(`${mac} is reserved ${staticAddress}, not ${address}`);
        const holder = this.leases.holder(address, now);
        if (!staticAddress) {
          if (holder && holder.mac !== mac) return nak(`${address} is held by another client`);
          const mine = holder?.mac === mac;
          // INIT-REBOOT or RENEWING with an address we have no record of: another server's
          // client, or a lease from before a wipe. RFC 2131 §4.3.2: remain silent.
          if (!mine && known.serverId === undefined) {
            if (!net.spec.pool || !poolContains(net.spec.pool, address)) return nak(`${address} is outside the pool of ${net.spec.name}`);
            return { kind: 'drop', reason: 'not-ours', detail: address };
          }
          if (!mine) return nak(`no offer of ${address} stands for ${mac}`);
        }
        const bound = this.leases.commit(mac, address, leaseMs, now, clientId);
        if (!bound.ok) return nak(bound.reason);
        const m = machine ?? (this.cfg.mode === 'discovery' ? this.discover(mac) : undefined);
        const decision = this.decide(known, mac);
        observe({ mac, ...(m ? { machine: m } : {}), stage: 'dhcp-ack', detail: `${address} for ${net.leaseSeconds}s${bootNote(decision)}` });
        return this.reply(req, known, ingress, { type: 'ACK', serverId, yiaddr: address, net, decision, machine: m, lease: true });
      }
      case 'DECLINE': {
        if (known.serverId !== undefined && !this.isOurs(known.serverId, ingress)) return { kind: 'drop', reason: 'other-server', detail: known.serverId };
        const address = known.requestedIp;
        if (!address) return { kind: 'done', what: 'ignored' };
        const ok = this.leases.decline(mac, address, now);
        observe({ mac, ...(machine ? { machine } : {}), stage: 'dhcp-decline', detail: `${address} is in use on the wire${ok ? '; quarantined' : ''}` });
        return { kind: 'done', what: ok ? 'declined' : 'ignored', address };
      }
      case 'RELEASE': {
        if (known.serverId !== undefined && !this.isOurs(known.serverId, ingress)) return { kind: 'drop', reason: 'other-server', detail: known.serverId };
        const ok = this.leases.release(mac, req.ciaddr, now);
        if (ok) observe({ mac, ...(machine ? { machine } : {}), stage: 'dhcp-release', detail: req.ciaddr });
        return { kind: 'done', what: ok ? 'released' : 'ignored', address: req.ciaddr };
      }
      case 'INFORM': {
        observe({ mac, ...(machine ? { machine } : {}), stage: 'dhcp-inform', detail: req.ciaddr });
        const decision = this.decide(known, mac);
        return this.reply(req, known, ingress, { type: 'ACK', serverId, yiaddr: ZERO, net, decision, machine });
      }
      default:
        return { kind: 'drop', reason: 'not-a-request', detail: type };
    }
  }

  /**
   * ProxyDHCP (PXE spec 2.1 §2.2.3): another server gives the address; we give only boot
   * information — an OFFER with yiaddr 0 on port 67, and an ACK to the client's REQUEST on
   * port 4011.
   */
  private proxy(req: DhcpMessage, known: KnownOptions, ingress: Ingress, machine: KnownMachine | undefined, observe: (o: Observation) => void): Outcome {
    const mac = req.mac!;
    const isBoot = known.vendorClass?.boot !== undefined || known.ipxe !== undefined;
    if (!isBoot) return { kind: 'drop', reason: 'not-network-boot', detail: mac };
    if (!machine || machine.state === 'discovered') return { kind: 'drop', reason: 'unknown-client', detail: mac };
    const serverId = this.serverIdFor(req, ingress);
    const decision = this.decide(known, mac);
    if (ingress.port === 'dhcp' && known.messageType === 'DISCOVER') {
      observe({ mac, machine, stage: 'proxy-offer', detail: bootNote(decision) });
      return this.reply(req, known, ingress, { type: 'OFFER', serverId, yiaddr: ZERO, decision, machine, proxy: true });
    }
    if (ingress.port === 'proxy' && (known.messageType === 'REQUEST' || known.messageType === 'INFORM')) {
      observe({ mac, machine, stage: 'proxy-ack', detail: bootNote(decision) });
      return this.reply(req, known, ingress, { type: 'ACK', serverId, yiaddr: ZERO, decision, machine, proxy: true });
    }
    return { kind: 'done', what: 'ignored' };
  }

  /** A network's options, built once per inventory version (the view makes new BootNets on change). */
  private netOptions(net: BootNet): { link: DhcpOption[]; lease: DhcpOption[] } {
    let o = this.optionCache.get(net);
    if (!o) {
      const link = [option.subnetMask(maskText(net.prefix))];
      if (net.spec.gateway) link.push(option.routers([net.spec.gateway]));
      if (net.spec.dns?.length) link.push(option.dnsServers(net.spec.dns));
      const s = net.leaseSeconds;
      o = { link, lease: [option.leaseTime(s), option.renewalTime(Math.floor(s / 2)), option.rebindingTime(Math.floor((s * 7) / 8))] };
      this.optionCache.set(net, o);
    }
    return o;
  }

  private decide(known: KnownOptions, mac: string): BootDecision {
    return decideBoot(known, {
      hasAsset: (n) => this.cfg.hasAsset(n),
      httpBase: this.cfg.httpBase,
      scriptUrl: `${this.cfg.httpBase}/boot/ipxe?mac=${mac}`,
    });
  }

  private networkFor(req: DhcpMessage, known: KnownOptions, ingress: Ingress): BootNet | undefined {
    if (req.giaddr !== ZERO) {
      // RFC 3527: a relay may name the client's subnet apart from its own address.
      return this.view.networkOf(known.relayAgent?.linkSelection ?? req.giaddr);
    }
    for (const a of ingress.localAddresses) {
      const n = this.view.networkOf(a);
      if (n) return n;
    }
    return undefined;
  }

  private inNet(net: BootNet, address: string): boolean {
    return this.view.networkOf(address) === net;
  }

  private serverIdFor(req: DhcpMessage, ingress: Ingress): string {
    // A direct client answers to our address on its link; a relayed one must reach us through
    // the relay's routing, which the advertised address is configured for.
    if (req.giaddr === ZERO && ingress.localAddresses.length) {
      const onLink = ingress.localAddresses.find((a) => this.view.networkOf(a));
      return onLink ?? ingress.localAddresses[0]!;
    }
    return this.cfg.advertise;
  }

  private isOurs(serverId: string, ingress: Ingress): boolean {
    return serverId === this.cfg.advertise || ingress.localAddresses.includes(serverId);
  }

  private reply(
    req: DhcpMessage,
    known: KnownOptions,
    ingress: Ingress,
    r: {
      type: 'OFFER' | 'ACK' | 'NAK';
      serverId: string;
      yiaddr?: string;
      net?: BootNet;
      decision?: BootDecision;
      machine?: KnownMachine | undefined;
      message?: string;
      lease?: boolean;
      proxy?: boolean;
    },
  ): Outcome {
    const opts: DhcpOption[] = [];
    let siaddr: string | undefined;
    let file: string | undefined;
    if (r.type === 'NAK') {
      if (r.message) opts.push(option.message(r.message.slice(0, 250)));
    } else {
      const net = r.net;
      if (net && !r.proxy) {
        const o = this.netOptions(net);
        opts.push(...o.link);
        if (r.lease || (r.type === 'OFFER' && r.yiaddr !== ZERO)) opts.push(...o.lease);
        if (r.machine && r.machine.state !== 'discovered') opts.push(option.hostname(r.machine.name));
      }
      const d = r.decision;
      if (d?.kind === 'tftp') {
        siaddr = this.cfg.advertise;
        file = d.file;
        opts.push(option.vendorClass('PXEClient'));
        // PXE 2.1 §2.2.5 discovery control, bit 3: boot the file named in this offer. Without
        // option 43 EDK2 (OVMF, most UEFI) takes a PXEClient offer for one that needs a BINL
        // exchange on port 4011 and, getting none, rejects it ("PXE-E16: No valid offer").
        opts.push(option.pxe({ discoveryControl: 0x08 }));
        if (known.parameterRequestList?.includes(66)) opts.push(option.tftpServerName(this.cfg.advertise));
        if (known.parameterRequestList?.includes(67)) opts.push(option.bootfileName(d.file));
      } else if (d?.kind === 'http') {
        file = d.url;
        opts.push(option.vendorClass('HTTPClient'));
        if (known.parameterRequestList?.includes(67)) opts.push(option.bootfileName(d.url));
      } else if (d?.kind === 'ipxe-script') {
        siaddr = this.cfg.advertise;
        file = d.url;
        if (known.parameterRequestList?.includes(67)) opts.push(option.bootfileName(d.url));
        // iPXE otherwise waits ~3 s for a ProxyDHCP offer that will never come (175.176,
        // "no-pxedhcp"). In proxy mode we are that offer, so it is left unset there.
        if (!r.proxy) opts.push(option.ipxe({ noPxeDhcp: true }));
      }
      // PXE spec 2.1 §2.2.5: a PXE server echoes the client's machine identifier.
      const uuid = getOption(req, 97);
      if (uuid && (r.proxy || d?.kind === 'tftp')) opts.push(uuid);
    }
    const message = buildReply(req, {
      type: r.type,
      serverId: r.serverId,
      ...(r.yiaddr ? { yiaddr: r.yiaddr } : {}),
      ...(siaddr ? { siaddr } : {}),
      ...(file ? { file } : {}),
      options: opts,
    });
    return { kind: 'reply', message, to: this.destination(req, ingress, r.type), maxLength: maxReplyLength(req), type: r.type, ...(r.decision ? { decision: r.decision } : {}) };
  }

  /** RFC 2131 §4.1, last paragraphs: where a reply goes. */
  private destination(req: DhcpMessage, ingress: Ingress, type: 'OFFER' | 'ACK' | 'NAK'): { address: string; port: number } {
    if (ingress.port === 'proxy') return { address: ingress.from.address, port: ingress.from.port };
    if (req.giaddr !== ZERO) return { address: req.giaddr, port: this.cfg.serverPort };
    if (type === 'NAK') return { address: BROADCAST, port: this.cfg.clientPort };
    if (req.ciaddr !== ZERO) return { address: req.ciaddr, port: this.cfg.clientPort };
    // A client without an address: unicast to yiaddr would need an ARP entry we cannot add
    // from a UDP socket, so the reply is broadcast on the boot link (RFC 2131 allows it).
    return { address: BROADCAST, port: this.cfg.clientPort };
  }
}

function via(req: DhcpMessage, ingress: Ingress): string {
  return req.giaddr !== ZERO ? `via relay ${req.giaddr} on ${ingress.device}` : `on ${ingress.device}`;
}

function bootNote(d: BootDecision): string {
  switch (d.kind) {
    case 'tftp':
      return `; boot ${d.file} over TFTP (arch ${d.arch})`;
    case 'http':
      return `; boot ${d.url} (UEFI HTTP, arch ${d.arch})`;
    case 'ipxe-script':
      return `; iPXE script ${d.url}`;
    case 'none':
      return `; no boot file: ${d.reason}`;
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
