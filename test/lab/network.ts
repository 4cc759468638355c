// The lab's networks, all inside two network namespaces of its own (names carry the lab's
// unique prefix, so labs and test runs side by side never collide):
//
//   <prefix>-lab   the "switch": three bridges, and what hangs off them —
//                    <prefix>bt  boot VLAN        198.18.0.0/24  the machines' nic0 taps (PXE)
//                    <prefix>bm  BMC network      198.18.1.0/24  each BMC's address (.10+i),
//                                                                 which its ipmi_sim binds
//                    <prefix>pr  production       198.18.2.0/24  the machines' nic1 taps
//                  qemu and ipmi_sim run here (a VM's taps are opened by name in this namespace).
//   <prefix>-app   the appliance: one veth into each bridge, where ironbay runs —
//                    <prefix>ab 198.18.0.1/24 (the boot interface), <prefix>am 198.18.1.1/24,
//                    <prefix>ap 198.18.2.1/24
//
// Only 198.18.0.0/15 (RFC 2544, benchmarking) is used, and nothing is routed anywhere: the host's
// own network is never touched (the API reaches the host through a forwarder: appliance.ts).
import type { Netns } from '../helpers/netns.ts';

export const NET = {
  boot: { prefix: '198.18.0', appliance: '198.18.0.1', cidr: '198.18.0.0/24' },
  bmc: { prefix: '198.18.1', appliance: '198.18.1.1', cidr: '198.18.1.0/24' },
  prod: { prefix: '198.18.2', appliance: '198.18.2.1', cidr: '198.18.2.0/24' },
} as const;

/** Host part of machine `index` (1-based) on every lab network: .11, .12, … */
export const hostOctet = (index: number): number => 10 + index;

export interface LabNetwork {
  /** Namespace of the bridges, taps, BMCs and VMs. */
  labNs: string;
  /** Namespace of the appliance (ironbay). */
  appNs: string;
  bridges: { boot: string; bmc: string; prod: string };
  /** The appliance's interfaces, one per network. */
  appIfs: { boot: string; bmc: string; prod: string };
}

/**
 * Creates both namespaces, the bridges, the appliance's veths and the BMC addresses.
 * `created` is told each namespace as soon as it exists, so that a failure midway leaves a
 * state file that tears down what was made.
 */
export async function createNetwork(netns: Netns, bmcAddresses: string[], created: (ns: string) => Promise<void>): Promise<LabNetwork> {
  const labNs = await netns.add('lab');
  await created(labNs);
  const appNs = await netns.add('app');
  await created(appNs);
  const bridges = {
    boot: await netns.bridge(labNs, 'bt'),
    bmc: await netns.bridge(labNs, 'bm'),
    prod: await netns.bridge(labNs, 'pr'),
  };
  const appIfs = { boot: '', bmc: '', prod: '' };
  for (const [key, letter] of [
    ['boot', 'b'],
    ['bmc', 'm'],
    ['prod', 'p'],
  ] as const) {
    const [app, sw] = await netns.veth({ ns: appNs, suffix: `a${letter}`, cidr: `${NET[key].appliance}/24` }, { ns: labNs, suffix: `s${letter}` });
    await netns.exec(labNs, 'ip', ['link', 'set', sw, 'master', bridges[key]]);
    appIfs[key] = app;
  }
  // The BMCs' addresses live on the BMC bridge itself: each ipmi_sim binds its own one.
  for (const a of bmcAddresses) await netns.exec(labNs, 'ip', ['addr', 'add', `${a}/24`, 'dev', bridges.bmc]);
  return { labNs, appNs, bridges, appIfs };
}

/** A machine's two taps (boot, production), persistent, in their bridges; qemu opens them by name. */
export async function createTaps(netns: Netns, net: LabNetwork, index: number): Promise<{ boot: string; prod: string }> {
  return {
    boot: await netns.tap(net.labNs, `b${index}`, net.bridges.boot),
    prod: await netns.tap(net.labNs, `p${index}`, net.bridges.prod),
  };
}
