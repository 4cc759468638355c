// POST /api/v1/boot/report: the installer's phone-home. It presents the token from its kernel
// command line (ironbay.token=…) in the body or as `Authorization: Bearer`, with a status
// (`status` or `stage`): `progress` any number of times, then `installed` or `failed` once. JSON or a form body
// (busybox wget --post-data in an initrd can send the latter without extra tools).
//
// A refused report is answered 401 (no, unknown or another machine's token) or 409 (a token
// superseded by a newer boot, or already used for a final report) and recorded as a
// `boot.report-rejected` event — at most REJECT_EVENTS_PER_MINUTE of them, so a client
// looping on a bad token cannot fill the event log; the suppressed count rides on the next one.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody } from '../../api/schemas.ts';
import { acceptReport, REJECT_REASONS, REPORT_STATUSES, type RejectReason } from '../sessions.ts';
import type { BootAppDeps } from '../http-app.ts';

export const REJECT_EVENTS_PER_MINUTE = 60;
export const MAX_REPORT_BYTES = 16 * 1024;

export const reportRoutes: FastifyPluginAsyncTypebox<BootAppDeps> = async (app, deps) => {
  const { store } = deps;
  let window = { start: 0, count: 0, suppressed: 0 };

  function recordRejection(reason: RejectReason | 'missing-token', from: string, who: { machineId: number | null; machine: string | null; bootId: number | null }, claimed?: string): void {
    const now = store.now().getTime();
    if (now - window.start >= 60_000) window = { start: now, count: 0, suppressed: window.suppressed };
    if (window.count >= REJECT_EVENTS_PER_MINUTE) {
      window.suppressed++;
      return;
    }
    window.count++;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    store.tx(() =>
      store.appendEvent({
        actor: `boot-client:${from}`,
        kind: 'boot.report-rejected',
        machineId: who.machineId,
        details: { reason, from, ...(who.bootId !== null && { bootId: who.bootId }), ...(claimed !== undefined && { claimedMachine: claimed }), ...(suppressed && { suppressedBefore: suppressed }) },
      }),
    );
  }

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_REPORT_BYTES }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.post(
    '/api/v1/boot/report',
    {
      bodyLimit: MAX_REPORT_BYTES,
      schema: {
        body: Type.Object(
          {
            token: Type.Optional(Type.String({ maxLength: 256 })),
            machine: Type.Optional(Type.String({ maxLength: 253 })),
            status: Type.Optional(Type.Enum([...REPORT_STATUSES])),
            // `stage` is the same as `status`, as the test initrd (test/helpers/initrd.ts) sends it.
            stage: Type.Optional(Type.Enum([...REPORT_STATUSES])),
            message: Type.Optional(Type.String({ maxLength: 1000 })),
            // What the installer sees of itself; kept in the stage's detail.
            mac: Type.Optional(Type.String({ maxLength: 64 })),
            ip: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ ok: Type.Literal(true), machine: Type.String(), bootId: Type.Integer() }), 400: ErrorBody, 401: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const status = b.status ?? b.stage;
      if (!status) return reply.code(400).send({ code: 'IB_ERR_BAD_REQUEST', message: `a boot report needs a status: ${REPORT_STATUSES.join(', ')}` });
      const seen = [b.mac && `mac ${b.mac}`, b.ip && `ip ${b.ip}`].filter(Boolean).join(', ');
      const message = [b.message, seen && `(${seen})`].filter(Boolean).join(' ') || undefined;
      const auth = req.headers.authorization;
      const token = b.token ?? (auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined);
      const log = req.log.child({ mod: 'boot-report', machine: b.machine, from: req.ip });
      if (!token) {
        recordRejection('missing-token', req.ip, { machineId: null, machine: null, bootId: null }, b.machine);
        log.warn('boot report without a token');
        return reply.code(401).send({ code: 'IB_ERR_AUTH_MISSING', message: 'a boot report needs the token from the kernel command line (ironbay.token=…)' });
      }
      const r = acceptReport(store, { token, status, ...(b.machine !== undefined && { machine: b.machine }), ...(message !== undefined && { message }) });
      if (!r.ok) {
        recordRejection(r.reason, req.ip, r, b.machine);
        log.warn({ reason: r.reason, bootId: r.bootId, tokenOf: r.machine }, 'boot report rejected');
        const conflict = r.reason === 'superseded' || r.reason === 'replayed';
        return reply.code(conflict ? 409 : 401).send({ code: conflict ? 'IB_ERR_CONFLICT' : 'IB_ERR_AUTH_INVALID', message: `boot report refused: ${REJECT_REASONS[r.reason]}` });
      }
      log[status === 'progress' ? 'debug' : 'info']({ machine: r.machine, bootId: r.bootId, status, message }, 'boot report');
      return { ok: true as const, machine: r.machine, bootId: r.bootId };
    },
  );
};
