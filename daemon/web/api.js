// The page's one way to the daemon: JSON requests with the bearer token, and the event stream.
// A 401 anywhere signs the page out (onUnauthorized); other failures are ApiErrors carrying
// the daemon's stable code (IB_ERR_*), which the page shows as is.

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {{ token: () => string | null, onUnauthorized: (e: ApiError) => void }} opts
 */
export function createApi({ token, onUnauthorized }) {
  const headers = (extra = {}) => ({ authorization: `Bearer ${token() ?? ''}`, ...extra });

  async function fail(res) {
    let body = {};
    try {
      body = await res.json();
    } catch {
      // not JSON: a proxy's page or a dropped connection
    }
    const e = new ApiError(res.status, body.code ?? `HTTP_${res.status}`, body.message ?? res.statusText);
    if (res.status === 401) onUnauthorized(e);
    return e;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {{ etag?: string }} [opts] with etag: a 304 answers { notModified: true }
   */
  async function request(method, path, body, opts = {}) {
    const h = headers(body === undefined ? {} : { 'content-type': 'application/json' });
    if (opts.etag) h['if-none-match'] = opts.etag;
    let res;
    try {
      res = await fetch(path, { method, headers: h, cache: 'no-store', ...(body !== undefined && { body: JSON.stringify(body) }) });
    } catch (err) {
      throw new ApiError(0, 'IB_ERR_NETWORK', `${method} ${path}: ${err.message}`);
    }
    if (res.status === 304) return { notModified: true, etag: opts.etag };
    if (!res.ok) throw await fail(res);
    const data = res.status === 204 ? null : await res.json();
    return { data, etag: res.headers.get('etag') ?? undefined, date: res.headers.get('date') ?? undefined };
  }

  /**
   * Follows `GET /api/v1/events?follow=1` until the stream ends or `signal` aborts. EventSource
   * cannot send an Authorization header, so this reads the text/event-stream with fetch.
   * @param {number | undefined} after resume after this event id
   * @param {(e: object) => void} onEvent
   * @param {() => void} onOpen
   * @param {AbortSignal} signal
   */
  async function follow(after, onEvent, onOpen, signal) {
    const q = new URLSearchParams({ follow: '1' });
    if (after !== undefined) q.set('after', String(after));
    const res = await fetch(`/api/v1/events?${q.toString()}`, { headers: headers({ accept: 'text/event-stream' }), cache: 'no-store', signal });
    if (!res.ok || !res.body) throw await fail(res);
    onOpen();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = createSseParser((data) => onEvent(JSON.parse(data)));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  }

  return { request, follow, get: (path, opts) => request('GET', path, undefined, opts), post: (path, body) => request('POST', path, body) };
}

/**
 * text/event-stream framing (HTML Living Standard §9.2.6): events end with a blank line;
 * `data:` lines join with "\n"; comment lines (":", the daemon's keepalive) and other fields
 * are ignored. Chunks may split anywhere, "\r\n" included.
 * @param {(data: string) => void} onData
 */
export function createSseParser(onData) {
  let buf = '';
  let data = [];
  return {
    /** @param {string} chunk */
    push(chunk) {
      buf += chunk;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        // A lone "\r" at the end may be the first half of "\r\n": wait for more.
        if (buf[nl] === '\r' && nl === buf.length - 1) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (data.length) onData(data.join('\n'));
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
      }
    },
  };
}
