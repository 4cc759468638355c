// The Redfish client over a scripted transport (no sockets, fake clock): session login and
// reuse, re-login, Basic fallback, retry rules per failure and method, Retry-After bounds, the
// mapping of statuses to IB_ERR_BMC_* codes, and the password kept out of every error.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { isBmcError, type BmcErrorCode, type BmcTarget } from '../../daemon/bmc/driver.ts';
import { codeForStatus, DEFAULT_BUSY_WAIT_MS, MAX_RETRY_AFTER_MS, RedfishClient } from '../../daemon/bmc/redfish/client.ts';
import { classify, TransportError, type Exchange, type Reply, type Transport } from '../../daemon/bmc/redfish/transport.ts';

const PASSWORD = 'p4ss-w0rd-unit';
const SESSIONS = '/redfish/v1/SessionService/Sessions';
const ROOT_BODY = {
  Systems: { '@odata.id': '/redfish/v1/Systems' },
  SessionService: { '@odata.id': '/redfish/v1/SessionService' },
  Links: { Sessions: { '@odata.id': SESSIONS } },
};

const reply = (status: number, body?: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  headers,
  body: Buffer.from(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)),
});

type Handler = (x: Exchange, n: number) => Reply | Error;

/** A BMC as a function of the request; `rest` answers everything but root and login. */
function bmc(rest: Handler, opts: { root?: Reply; login?: () => Reply } = {}): Handler {
  let logins = 0;
  return (x, n) => {
    if (x.method === 'GET' && x.path === '/redfish/v1/') return opts.root ?? reply(200, ROOT_BODY);
    if (x.method === 'POST' && x.path === SESSIONS) {
      logins++;
      return opts.login?.() ?? reply(201, {}, { 'x-auth-token': `tok${logins}`, location: `https://bmc.example${SESSIONS}/s${logins}` });
    }
    return rest(x, n);
  };
}

function setup(handler: Handler, target: Partial<BmcTarget> = {}) {
  const sent: Exchange[] = [];
  const sleeps: number[] = [];
  let closed = 0;
  let now = 0;
  const transport: Transport = {
    send: async (x) => {
      sent.push(x);
      const r = handler(x, sent.length);
      if (r instanceof Error) throw r;
      return r;
    },
    close: () => {
      closed++;
    },
  };
  const client = new RedfishClient({
    target: { driver: 'redfish', host: 'bmc.example', username: 'ops', password: PASSWORD, retries: 2, ...target },
    endpoint: 'bmc.example:443',
    transport,
    log: pino({ level: 'silent' }),
    clock: {
      now: () => now,
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
      },
    },
  });
  const count = (method: string, path: string): number => sent.filter((x) => x.method === method && x.path === path).length;
  return { client, sent, sleeps, count, closed: () => closed };
}

/** Awaits a rejection with `code` and checks the password is nowhere in it. */
async function fails(p: Promise<unknown>, code: BmcErrorCode): Promise<Error> {
  const e = await p.then(
    () => assert.fail(`expected ${code}`),
    (err: unknown) => err,
  );
  assert.ok(isBmcError(e, code), inspect(e));
  assert.ok(!inspect(e, { depth: 10 }).includes(PASSWORD), 'password in error');
  assert.ok(!JSON.stringify(e.details ?? {}).includes(PASSWORD), 'password in details');
  return e;
}

const ok = (): Reply => reply(200, { ok: true });

describe('authentication', () => {
  test('one session serves many requests; close deletes it once', async () => {
    const { client, sent, count, closed } = setup(bmc(ok));
    await client.get('/a', 'A');
    await client.get('/b', 'B');
    await client.post('/c', { x: 1 });
    assert.equal(count('POST', SESSIONS), 1);
    const login = sent.find((x) => x.path === SESSIONS)!;
    assert.deepEqual(JSON.parse(login.body!.toString()), { UserName: 'ops', Password: PASSWORD });
    for (const x of sent.filter((x) => x.path.length === 2)) {
      assert.equal(x.headers['x-auth-token'], 'tok1');
      assert.equal(x.headers.authorization, undefined);
    }
    await client.close();
    await client.close();
    assert.deepEqual(
      sent.filter((x) => x.method === 'DELETE').map((x) => [x.path, x.headers['x-auth-token']]),
      [[`${SESSIONS}/s1`, 'tok1']],
    );
    assert.equal(closed(), 2);
  });

  test('calls made together share one login', async () => {
    const { client, count } = setup(bmc(ok));
    await Promise.all([client.get('/a', 'A'), client.get('/b', 'B'), client.get('/c', 'C')]);
    assert.equal(count('POST', SESSIONS), 1);
  });

  test('a forgotten session is renewed once, then 401 is IB_ERR_BMC_AUTH', async () => {
    let valid = 'tok1';
    const { client, count } = setup(bmc((x) => (x.headers['x-auth-token'] === valid ? ok() : reply(401))));
    await client.get('/a', 'A');
    valid = 'tok2';
    await client.get('/a', 'A');
    assert.equal(count('POST', SESSIONS), 2);
    valid = 'never';
    const e = await fails(client.get('/a', 'A'), 'IB_ERR_BMC_AUTH');
    assert.match(e.message, /user "ops"/);
    assert.equal(count('POST', SESSIONS), 3);
  });

  test('HTTP Basic when sessions cannot be created (405) or there is no SessionService', async () => {
    for (const variant of ['405', 'no-service'] as const) {
      const root = variant === 'no-service' ? reply(200, { Systems: { '@odata.id': '/redfish/v1/Systems' } }) : undefined;
      const { client, sent, count } = setup(bmc(ok, { ...(root ? { root } : {}), login: () => reply(405) }));
      await client.get('/a', 'A');
      assert.equal(count('POST', SESSIONS), variant === '405' ? 1 : 0);
      const auth = sent.at(-1)!.headers.authorization;
      assert.equal(auth, 'Basic ' + Buffer.from(`ops:${PASSWORD}`).toString('base64'));
    }
  });

  test('a root that demands credentials: log in at the standard URI, then read it', async () => {
    const { client, sent } = setup((x) => {
      if (x.path === SESSIONS) return reply(201, { '@odata.id': `${SESSIONS}/9` }, { 'x-auth-token': 't' });
      if (x.path === '/redfish/v1/') return x.headers['x-auth-token'] === 't' ? reply(200, ROOT_BODY) : reply(401);
      return ok();
    });
    assert.equal((await client.root()).systems, '/redfish/v1/Systems');
    assert.deepEqual(
      sent.map((x) => `${x.method} ${x.path}`),
      ['GET /redfish/v1/', `POST ${SESSIONS}`, 'GET /redfish/v1/'],
    );
    await client.close();
    assert.equal(sent.at(-1)!.path, `${SESSIONS}/9`);
  });

  test('login failures: 401 with the password echoed back, no token, 403', async () => {
    const echo = reply(401, { error: { message: `Login failed for ops/${PASSWORD}` } });
    const e = await fails(setup(bmc(ok, { login: () => echo })).client.get('/a', 'A'), 'IB_ERR_BMC_AUTH');
    assert.match(e.message, /Login failed for ops\/\[redacted\]/);
    await fails(setup(bmc(ok, { login: () => reply(201, {}) })).client.get('/a', 'A'), 'IB_ERR_BMC_PROTOCOL');
    await fails(setup(bmc(ok, { login: () => reply(403) })).client.get('/a', 'A'), 'IB_ERR_BMC_PRIVILEGE');
  });
});

describe('retries', () => {
  test('503 and 429 wait for Retry-After, bounded; then succeed', async () => {
    const answers = [reply(503, undefined, { 'retry-after': '2' }), reply(429, undefined, { 'retry-after': '3600' }), ok()];
    const { client, sleeps } = setup(bmc(() => answers.shift()!));
    await client.get('/a', 'A');
    assert.deepEqual(sleeps, [2000, MAX_RETRY_AFTER_MS]);
  });

  test('busy beyond the tries is IB_ERR_BMC_BUSY with the BMC message', async () => {
    const busy = reply(503, { error: { '@Message.ExtendedInfo': [{ Message: 'Too many sessions.' }] } });
    const { client, sleeps, count } = setup(bmc(() => busy), { retries: 1 });
    const e = await fails(client.post('/act', {}), 'IB_ERR_BMC_BUSY');
    assert.match(e.message, /HTTP 503.*Too many sessions\./);
    assert.equal(count('POST', '/act'), 2);
    assert.deepEqual(sleeps, [DEFAULT_BUSY_WAIT_MS]);
  });

  test('timeouts: GET and PATCH are tried again, POST is not', async () => {
    const timeout = (): Error => new TransportError('timeout', 'no answer within 50 ms');
    const get = setup(bmc(timeout));
    const e = await fails(get.client.get('/a', 'A'), 'IB_ERR_BMC_TIMEOUT');
    assert.equal(get.count('GET', '/a'), 3);
    assert.equal((e as { details?: Record<string, unknown> }).details?.attempts, 3);
    const patch = setup(bmc(timeout));
    await fails(patch.client.patch('/a', {}), 'IB_ERR_BMC_TIMEOUT');
    assert.equal(patch.count('PATCH', '/a'), 3);
    const post = setup(bmc(timeout));
    await fails(post.client.post('/act', {}), 'IB_ERR_BMC_TIMEOUT');
    assert.equal(post.count('POST', '/act'), 1);
  });

  test('a POST is resent only when a stale keep-alive socket broke', async () => {
    let first = true;
    const stale = setup(bmc(() => (first ? ((first = false), new TransportError('reset', 'ECONNRESET', { reused: true })) : ok())));
    await stale.client.post('/act', {});
    assert.equal(stale.count('POST', '/act'), 2);
    const fresh = setup(bmc(() => new TransportError('reset', 'ECONNRESET', { reused: false })));
    await fails(fresh.client.post('/act', {}), 'IB_ERR_BMC_UNREACHABLE');
    assert.equal(fresh.count('POST', '/act'), 1);
  });

  test('unreachable and TLS failures are not retried', async () => {
    const refused = setup(bmc(() => new TransportError('unreachable', 'cannot connect (ECONNREFUSED)')));
    await fails(refused.client.get('/a', 'A'), 'IB_ERR_BMC_UNREACHABLE');
    assert.equal(refused.count('GET', '/a'), 1);
    const tls = setup(() => new TransportError('tls', 'certificate is not trusted'));
    await fails(tls.client.get('/a', 'A'), 'IB_ERR_BMC_TLS');
  });
});

describe('answers', () => {
  test('status codes map to error codes, Redfish messages in the text', async () => {
    const body = { error: { '@Message.ExtendedInfo': [{ MessageId: 'Base.1.8.PropertyValueNotInList', Message: 'The value Floppy is not allowed.' }] } };
    const e = await fails(setup(bmc(() => reply(400, body))).client.patch('/s', {}), 'IB_ERR_BMC_FAILED');
    assert.match(e.message, /PATCH \/s: HTTP 400: The value Floppy is not allowed\./);
    assert.deepEqual((e as { details?: unknown }).details, { method: 'PATCH', path: '/s', status: 400, messageIds: ['Base.1.8.PropertyValueNotInList'] });
    await fails(setup(bmc(() => reply(403))).client.post('/act', {}), 'IB_ERR_BMC_PRIVILEGE');
    await fails(setup(bmc(() => reply(404))).client.get('/x', 'X'), 'IB_ERR_BMC_UNSUPPORTED');
  });

  test('a body that is not a JSON object is IB_ERR_BMC_PROTOCOL', async () => {
    const e = await fails(setup(bmc(() => reply(200, '<html>hi</html>'))).client.get('/s', 'ComputerSystem'), 'IB_ERR_BMC_PROTOCOL');
    assert.match(e.message, /GET \/s: ComputerSystem: body is not JSON/);
    await fails(setup(bmc(ok, { root: reply(200, { Systems: 'nope' }) })).client.root(), 'IB_ERR_BMC_PROTOCOL');
  });

  test('ETags: header first, then @odata.etag; If-Match sent back', async () => {
    const { client, sent } = setup(bmc((x) => (x.path === '/h' ? reply(200, { '@odata.etag': 'W/"b"' }, { etag: '"h"' }) : reply(200, { '@odata.etag': 'W/"b"' }))));
    assert.equal((await client.get('/h', 'H')).etag, '"h"');
    assert.equal((await client.get('/b', 'B')).etag, 'W/"b"');
    await client.patch('/b', { Boot: {} }, 'W/"b"');
    assert.equal(sent.at(-1)!.headers['if-match'], 'W/"b"');
    assert.equal(sent.at(-1)!.headers['content-type'], 'application/json');
  });

  test('close() survives a BMC that no longer answers', async () => {
    const { client, closed } = setup(bmc((x) => (x.method === 'DELETE' ? new TransportError('timeout', 'no answer') : ok())));
    await client.get('/a', 'A');
    await client.close();
    assert.equal(closed(), 1);
  });
});

describe('tables', () => {
  test('HTTP status → code', () => {
    const table: [number, BmcErrorCode][] = [
      [401, 'IB_ERR_BMC_AUTH'],
      [403, 'IB_ERR_BMC_PRIVILEGE'],
      [404, 'IB_ERR_BMC_UNSUPPORTED'],
      [405, 'IB_ERR_BMC_UNSUPPORTED'],
      [501, 'IB_ERR_BMC_UNSUPPORTED'],
      [429, 'IB_ERR_BMC_BUSY'],
      [503, 'IB_ERR_BMC_BUSY'],
      [400, 'IB_ERR_BMC_FAILED'],
      [409, 'IB_ERR_BMC_FAILED'],
      [412, 'IB_ERR_BMC_FAILED'],
      [500, 'IB_ERR_BMC_FAILED'],
    ];
    for (const [status, code] of table) assert.equal(codeForStatus(status), code, String(status));
  });

  test('socket errors → failure kinds', () => {
    const err = (code: string): Error => Object.assign(new Error(code), { code });
    assert.equal(classify(err('ECONNREFUSED'), false).kind, 'unreachable');
    assert.equal(classify(err('EHOSTUNREACH'), false).kind, 'unreachable');
    assert.equal(classify(err('ETIMEDOUT'), false).kind, 'timeout');
    assert.equal(classify(err('ERR_SSL_WRONG_VERSION_NUMBER'), false).kind, 'tls');
    const reset = classify(err('ECONNRESET'), true);
    assert.equal(reset.kind, 'reset');
    assert.equal(reset.reused, true);
  });
});
