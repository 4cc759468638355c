// What a network-booting client is told to load, from what its DHCP request says about it.
// Pure: the server passes the decoded options and what pxe-assets holds.
//
// The chain every machine goes through: firmware PXE (or UEFI HTTP boot) loads an iPXE
// binary matching its architecture; iPXE then asks DHCP again, identifies itself (user
// class "iPXE", option 175) and is given the per-machine script URL instead of the binary
// again — which is what breaks the otherwise endless iPXE-loads-iPXE loop.
import type { KnownOptions } from './codec/index.ts';
import { userClassNames } from './codec/index.ts';

export type BootDecision =
  /** iPXE is already running: hand it the script. */
  | { kind: 'ipxe-script'; url: string }
  /** Firmware PXE: `file` over TFTP from `siaddr`. */
  | { kind: 'tftp'; file: string; arch: number }
  /** UEFI HTTP boot: the binary's URL in `file`; the reply must carry vendor class "HTTPClient" (UEFI spec §24.7). */
  | { kind: 'http'; url: string; arch: number }
  | { kind: 'none'; reason: string };

export interface BootContext {
  /** Whether pxe-assets holds a file of this name. */
  hasAsset(name: string): boolean;
  /** Base URL of the HTTP boot server, e.g. `http://198.51.100.1:8470`, no trailing slash. */
  httpBase: string;
  /** The per-machine iPXE script URL for this client. */
  scriptUrl: string;
}

// RFC 4578 §2.1 / IANA "Processor Architecture Types". Each entry lists the iPXE builds to
// offer, best first: snponly uses the firmware's own network driver (works on any NIC UEFI
// supports); ipxe.efi carries iPXE's drivers, for firmware whose SNP is broken.
const TFTP_BINARIES: Readonly<Record<number, readonly string[]>> = {
  0: ['undionly.kpxe'], // x86 BIOS: iPXE on top of the NIC's UNDI PXE stack
  7: ['snponly.efi', 'ipxe.efi'], // x64 UEFI
  9: ['snponly.efi', 'ipxe.efi'], // "EBC" in RFC 4578, sent by x64 UEFI firmware in practice
  11: ['snponly-arm64.efi', 'ipxe-arm64.efi'], // ARM 64-bit UEFI
};
const HTTP_BINARIES: Readonly<Record<number, readonly string[]>> = {
  16: ['ipxe.efi', 'snponly.efi'], // x64 UEFI HTTP
  19: ['ipxe-arm64.efi', 'snponly-arm64.efi'], // ARM 64-bit UEFI HTTP
};

export function decideBoot(req: KnownOptions, ctx: BootContext): BootDecision {
  // iPXE first: it also sends "PXEClient" and option 93, and must not be given iPXE again.
  const userClasses = req.userClass ? userClassNames(req.userClass) : [];
  if (userClasses.includes('iPXE') || req.ipxe) return { kind: 'ipxe-script', url: ctx.scriptUrl };

  const boot = req.vendorClass?.boot;
  if (!boot) return { kind: 'none', reason: 'not a network-boot request (no PXEClient or HTTPClient vendor class, not iPXE)' };
  // Option 93 is authoritative; the ":Arch:" in the vendor class is the fallback for old ROMs.
  const archs = req.clientArch ?? (req.vendorClass?.arch === undefined ? [0] : [req.vendorClass.arch]);
  const table = boot === 'HTTPClient' ? HTTP_BINARIES : TFTP_BINARIES;
  const missing: string[] = [];
  for (const arch of archs) {
    const candidates = table[arch];
    if (!candidates) continue;
    const file = candidates.find((f) => ctx.hasAsset(f));
    if (!file) {
      missing.push(...candidates);
      continue;
    }
    return boot === 'HTTPClient' ? { kind: 'http', url: `${ctx.httpBase}/boot/assets/${file}`, arch } : { kind: 'tftp', file, arch };
  }
  const asked = archs.join(', ');
  return missing.length
    ? { kind: 'none', reason: `client architecture ${asked} needs ${missing.join(' or ')}, which pxe-assets does not hold` }
    : { kind: 'none', reason: `no iPXE build for client architecture ${asked} (${boot})` };
}
