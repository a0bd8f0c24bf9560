/**
 * A member's health as its agent sees it: etcd's `GET /health` on the member's first client URL (kvctl's
 * node and etcd answer `{"health":"true"}`). With client TLS the agent presents the member's peer
 * certificate (it carries clientAuth; the server certificate does not, and etcd checks that).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HealthTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** "true", "false", or why the member could not be asked. Never throws. */
export async function probeHealth(clientUrl: string, tls: HealthTls | undefined, timeoutMs = 2000): Promise<string> {
  let url: URL;
  try {
    url = new URL('/health', clientUrl);
  } catch {
    return `bad client URL ${clientUrl}`;
  }
  return await new Promise<string>((resolveOnce) => {
    // One deadline for the whole request: the `timeout` option is only an idle timeout, and for https Node
    // applies it late (a member that accepts TCP but never finishes the TLS handshake held the probe for twice
    // as long), which pushed the agent's Status past its callers' deadline.
    const deadline = setTimeout(() => {
      resolveOnce(`unreachable: no answer within ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);
    const resolve = (value: string) => {
      clearTimeout(deadline);
      resolveOnce(value);
    };
    const options = { method: 'GET', ...(url.protocol === 'https:' && tls !== undefined ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}) };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk.slice(0, 4096)));
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { health?: unknown; reason?: unknown };
          if (parsed.health === 'true') resolve('true');
          else resolve(typeof parsed.reason === 'string' && parsed.reason !== '' ? `false (${parsed.reason})` : 'false');
        } catch {
          resolve(`unexpected answer (HTTP ${res.statusCode ?? '?'})`);
        }
      });
      res.on('error', (err) => resolve(`unreachable: ${err.message}`));
    });
    req.on('error', (err) => resolve(`unreachable: ${err.message}`));
    req.end();
  });
}
