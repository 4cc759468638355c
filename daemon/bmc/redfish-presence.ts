// Does a Redfish service answer at this BMC address? The service root needs no credentials
// (DSP0266 §13.3.1), so the probe sends none; and the answer only says "there is Redfish here",
// so the certificate is not judged (no secret crosses this connection).
import https from 'node:https';

export function hasRedfish(host: string, port = 443, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host, port, path: '/redfish/v1/', rejectUnauthorized: false, timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 65536) body += c;
      });
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"RedfishVersion"')));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
