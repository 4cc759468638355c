// GET /boot/ipxe?mac=…|uuid=…|serial=…: the machine's iPXE script for this boot. The DHCP
// server hands iPXE this URL; iPXE substitutes ${net0/mac}, ${uuid}, ${serial} itself.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody } from '../../api/schemas.ts';
import type { Profile } from '../../../inventory/schema.ts';
import { IronbayError, isIronbayError } from '../../errors.ts';
import { normalizeMac } from '../../lib/net.ts';
import { PATH_REFUSALS, requestPath } from '../../tftp/paths.ts';
import { bootsKernel, DISCOVERY_INITRD, DISCOVERY_KERNEL, planBoot, type BootPlan } from '../decide.ts';
import type { BootAppDeps } from '../http-app.ts';
import { ipxeArg, ipxeArgs, ipxeLines, ipxeText, renderTemplate, word, type IpxeValue } from '../ipxe-script.ts';
import { bootLookup, type BootMachine } from '../lookup.ts';
import { seedKey } from '../seed.ts';
import { startBoot, tokenHash, type BootAction } from '../sessions.ts';

const Id = Type.Optional(Type.String({ maxLength: 128 }));

/** Seconds a held machine waits before leaving network boot. */
export const HOLD_SECONDS = 30;

/** What a kernel boot needs, checked before a session (and its token) exists. */
interface KernelPieces {
  kernel: string;
  initrds: string[];
  cmdline: IpxeValue;
}

export const scriptRoutes: FastifyPluginAsyncTypebox<BootAppDeps> = async (app, deps) => {
  const { store, assets } = deps;
  const lookup = bootLookup(store);
  const base = deps.advertise.replace(/\/+$/, '');

  const assetUrl = (relative: string, bootId: number | undefined, stage: 'kernel' | 'initrd' | 'image'): IpxeValue => {
    const path = relative.split('/').map(encodeURIComponent).join('/');
    return ipxeArg(`${base}/boot/assets/${path}${bootId === undefined ? '' : `?boot=${bootId}&stage=${stage}`}`, `${stage} URL`);
  };

  /** Paths and command line of a profile (or the discovery image), refused when unsafe or missing. */
  async function kernelPieces(plan: BootPlan): Promise<KernelPieces | { missing: string }> {
    const p: Pick<Profile, 'kernel' | 'initrd' | 'cmdline' | 'name'> =
      plan.action === 'install' || plan.action === 'live' ? plan.profile : { name: 'discovery', kernel: DISCOVERY_KERNEL, initrd: [DISCOVERY_INITRD] };
    const files = [p.kernel, ...p.initrd].map((f) => {
      const r = requestPath(f);
      // Validated inventories never get here with such a path; a hand-edited database might.
      if (!r.ok) throw new IronbayError('IB_ERR_INVENTORY_INVALID', `profile ${p.name}: file ${JSON.stringify(f)} ${PATH_REFUSALS[r.reason]}`);
      return r.relative;
    });
    for (const f of files) if (!(await assets.exists(f))) return { missing: f };
    return { kernel: files[0]!, initrds: files.slice(1), cmdline: ipxeArgs(p.cmdline ?? '', `profile ${p.name} cmdline`) };
  }

  function renderKernel(action: BootAction, who: string, profile: string, k: KernelPieces, boot: { bootId: number; token?: string } | undefined, plan: BootPlan): string {
    const names = k.initrds.map((_, i) => `initrd${i}`);
    const ironbay = [`ironbay.url=${base}/api/v1/boot/report`, ...(boot?.token ? [`ironbay.token=${boot.token}`, `ironbay.boot=${boot.bootId}`] : []), `ironbay.machine=${who}`];
    if (action === 'discovery') ironbay.push('ironbay.mode=discovery');
    // An image install: where the disk image is, and this boot's configuration (seed.ts).
    if (plan.action === 'install' && boot?.token) {
      const image = plan.profile.install?.method === 'image' ? plan.profile.install.image : undefined;
      if (image) ironbay.push(`ironbay.image=${assetUrl(image, boot.bootId, 'image').text}`);
      ironbay.push(`ironbay.config=${base}/boot/config/${boot.bootId}/${seedKey(tokenHash(boot.token))}`);
    }
    return renderTemplate(deps.templates['kernel.ipxe'], {
      action: word(action),
      machine: ipxeText(who),
      profile: ipxeText(profile),
      bootId: ipxeText(boot ? String(boot.bootId) : 'none'),
      kernelUrl: assetUrl(k.kernel, boot?.bootId, 'kernel'),
      initrdArgs: ipxeArgs(names.map((n) => `initrd=${n}`).join(' '), 'initrd names'),
      cmdline: ipxeArgs([k.cmdline.text, ...ironbay].join(' '), 'kernel command line'),
      initrds: ipxeLines(k.initrds.map((f, i) => [word('initrd'), word('--name'), word(names[i]!), assetUrl(f, boot?.bootId, 'initrd'), word('||'), word('goto'), word('failed')])),
    });
  }

  const renderHold = (who: string, reason: string): string =>
    renderTemplate(deps.templates['hold.ipxe'], { who: ipxeText(who), reason: ipxeText(reason), holdSeconds: word(String(deps.holdSeconds ?? HOLD_SECONDS)) });

  function find(q: { mac?: string; uuid?: string; serial?: string }): { machine: BootMachine | undefined; who: string; mac: string | undefined } {
    const mac = q.mac ? normalizeMac(q.mac) : undefined;
    const machine = (mac && lookup.byMac(mac)) || (q.uuid && lookup.byHardwareId('uuid', q.uuid)) || (q.serial && lookup.byHardwareId('serial', q.serial)) || undefined;
    const who = machine?.name ?? mac ?? (q.uuid ? `uuid ${q.uuid}` : q.serial ? `serial ${q.serial}` : 'this machine');
    return { machine, who, mac };
  }

  app.get(
    '/boot/ipxe',
    {
      schema: {
        querystring: Type.Object({ mac: Id, uuid: Id, serial: Id }),
        response: { 200: Type.String({ description: 'iPXE script' }), 500: Type.Union([Type.String({ description: 'why no script could be rendered' }), ErrorBody]) },
      },
    },
    async (req, reply) => {
      const { machine, who } = find(req.query);
      const log = req.log.child({ mod: 'boot-script', machine: machine?.name, mac: req.query.mac });
      const profile = machine?.profile ? lookup.profile(machine.profile) : undefined;
      const discovery = (await assets.exists(DISCOVERY_KERNEL)) && (await assets.exists(DISCOVERY_INITRD));
      let plan = planBoot(machine, profile, discovery);
      reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store');

      let pieces: KernelPieces | undefined;
      try {
        if (bootsKernel(plan.action)) {
          const k = await kernelPieces(plan);
          if ('missing' in k) plan = { action: 'hold', reason: `${k.missing} is not in the boot assets (${assets.roots.join(', ')})` };
          else pieces = k;
        }
      } catch (err) {
        if (!isIronbayError(err, 'IB_ERR_INVENTORY_INVALID')) throw err;
        // The inventory holds something no iPXE script can say: a 500 with the reason (not a
        // 404, not a script that boots something else), an error log and an event.
        log.error({ err: err.message }, 'cannot render the iPXE script');
        if (machine) store.tx(() => store.appendEvent({ actor: 'boot', kind: 'boot.script-failed', machineId: machine.id, details: { reason: err.message } }));
        return reply.code(500).send(`ironbay: cannot render the iPXE script for ${who}: ${err.message}\n`);
      }

      const profileName = plan.action === 'install' || plan.action === 'live' ? plan.profile.name : plan.action;
      const reason = 'reason' in plan ? plan.reason : `profile ${profileName}`;
      const boot = machine
        ? startBoot(store, { machineId: machine.id, action: plan.action, profile: machine.profile, withToken: pieces !== undefined, detail: `${plan.action}: ${reason}`, from: req.ip })
        : undefined;
      // Unknown machines are logged at debug: a boot storm of them must not flood the journal.
      log[machine ? 'info' : 'debug']({ action: plan.action, bootId: boot?.bootId, reason }, 'iPXE script');

      if (pieces) return renderKernel(plan.action, who, profileName, pieces, boot, plan);
      if (plan.action === 'local-disk') {
        return renderTemplate(deps.templates['local-disk.ipxe'], { machine: ipxeText(who), reason: ipxeText(plan.reason), bootId: ipxeText(String(boot?.bootId ?? 'none')) });
      }
      return renderHold(who, reason);
    },
  );
};
