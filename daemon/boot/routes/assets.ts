// GET/HEAD /boot/assets/*: kernels, initrds, images and iPXE binaries, with single-range
// requests (RFC 9110 §14) so UEFI HTTP boot and resuming clients work. Each complete fetch
// from the start of a file is a timeline stage: with `?boot=ID&stage=kernel|initrd` (the
// URLs our scripts write) it is that boot's stage; without, the client's lease names the
// machine (UEFI HTTP boot fetching iPXE).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { PATH_REFUSALS } from '../../tftp/paths.ts';
import { BAD_REQUEST_REFUSALS, type AssetRefusal } from '../assets.ts';
import type { BootAppDeps } from '../http-app.ts';
import { bootLookup } from '../lookup.ts';
import { parseRange } from '../range.ts';
import { bootOwner } from '../sessions.ts';
import { recordBootStage, recordMachineStage } from '../timeline.ts';

/**
 * Read size per chunk for files streamed from disk (those the memory cache does not hold).
 * Below glibc's mmap threshold as the daemon sets it (MALLOC_MMAP_THRESHOLD_=131072, see
 * daemon/runtime.ts): larger chunks were each a fresh mmap, page faults and munmap, which
 * bench/http.ts saw halve the streamed throughput.
 */
export const STREAM_CHUNK = 64 * 1024;

const ErrorText = Type.String();

function refusalStatus(reason: AssetRefusal): 400 | 403 | 404 | 500 {
  if (BAD_REQUEST_REFUSALS.has(reason)) return 400;
  if (reason === 'access-denied') return 403;
  if (reason === 'io-error') return 500;
  return 404; // not-found, outside-root (not said: it would tell what lies outside), not-a-file
}

export const assetRoutes: FastifyPluginAsyncTypebox<BootAppDeps> = async (app, deps) => {
  const { store, assets } = deps;
  const lookup = bootLookup(store);

  app.route({
    method: ['GET', 'HEAD'],
    url: '/boot/assets/*',
    // HEAD is served here rather than by fastify's automatic HEAD route, which would run the
    // GET and read the whole file only to discard it.
    exposeHeadRoute: false,
    schema: {
      querystring: Type.Object({ boot: Type.Optional(Type.Integer({ minimum: 1 })), stage: Type.Optional(Type.Enum(['kernel', 'initrd', 'image'])) }),
      response: { 200: Type.Unknown({ description: 'the file' }), 206: Type.Unknown({ description: 'the requested range of the file' }), 400: ErrorText, 403: ErrorText, 404: ErrorText, 416: ErrorText, 500: ErrorText },
    },
    handler: async (req, reply) => {
      const name = (req.params as { '*': string })['*'];
      const r = await assets.open(name);
      if (!r.ok) {
        req.log.debug({ mod: 'boot-assets', name, reason: r.reason }, 'asset refused');
        return reply.code(refusalStatus(r.reason)).type('text/plain; charset=utf-8').send(`${name}: ${r.reason === 'not-a-file' ? 'not a file' : PATH_REFUSALS[r.reason]}\n`);
      }
      const { handle, stats, relative } = r.file;
      const size = stats.size;
      const etag = `"${stats.ino.toString(16)}-${size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
      const lastModified = stats.mtime.toUTCString();
      // If-Range (§13.1.5): the range applies only while the file is the one the client has.
      const ifRange = req.headers['if-range'];
      const rangeHeader = ifRange === undefined || ifRange === etag || ifRange === lastModified ? req.headers.range : undefined;
      const range = parseRange(rangeHeader, size);
      reply.header('accept-ranges', 'bytes').header('etag', etag).header('last-modified', lastModified).type('application/octet-stream');

      if (range.kind === 'unsatisfiable') {
        await handle.close();
        return reply.code(416).header('content-range', `bytes */${size}`).type('text/plain; charset=utf-8').send(`${relative}: range ${rangeHeader} is outside the file's ${size} bytes\n`);
      }
      const start = range.kind === 'partial' ? range.start : 0;
      const end = range.kind === 'partial' ? range.end : size - 1;
      const length = size === 0 ? 0 : end - start + 1;
      if (range.kind === 'partial') reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
      reply.header('content-length', length);

      if (start === 0 && req.method === 'GET') {
        const at = store.now().getTime();
        const q = req.query;
        let finished = false;
        reply.raw.once('finish', () => (finished = true));
        reply.raw.once('close', () => {
          const part = range.kind === 'partial' ? ` (bytes ${start}-${end} of ${size})` : '';
          const detail = `${relative} ${finished ? `${length} B` : 'aborted'}${part}`;
          if (q.boot !== undefined) {
            const owner = bootOwner(store, q.boot);
            if (owner !== undefined) recordMachineStage(store, { machineId: owner, bootId: q.boot, stage: q.stage ?? 'kernel', detail, at });
          } else {
            const mac = lookup.macOfAddress(req.ip);
            if (mac) recordBootStage(store, { mac, stage: 'http', detail, at });
          }
        });
      }

      if (req.method === 'HEAD' || length === 0) {
        await handle.close();
        return reply.send();
      }
      const cached = await deps.cache.get(r.file.real, handle, stats).catch((err: unknown) => {
        req.log.warn({ mod: 'boot-assets', err, file: r.file.real }, 'cannot read the asset into memory; streaming it');
        return undefined;
      });
      if (cached?.length === size) {
        await handle.close();
        return reply.send(cached.subarray(start, end + 1));
      }
      // Too big to cache (or changed while read): stream it; reads are positioned, the
      // handle's own position does not matter.
      return reply.send(handle.createReadStream({ start, end, highWaterMark: STREAM_CHUNK }));
    },
  });
};
