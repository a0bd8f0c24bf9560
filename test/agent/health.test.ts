// The agent's health probe ends within its deadline even when the member accepts TCP and then says nothing
// (a stopped or wedged process: no TLS handshake, no HTTP answer). Node's own `timeout` option, an idle
// timeout, let an https probe run for twice its time.
import assert from 'node:assert/strict';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { describe, it } from 'node:test';

import { probeHealth } from '../../src/agent/health.js';

describe('probeHealth', () => {
  it('answers "unreachable" within its deadline when the member never answers', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const scheme of ['https', 'http']) {
        const t0 = Date.now();
        const answer = await probeHealth(`${scheme}://127.0.0.1:${port}`, undefined, 1000);
        const took = Date.now() - t0;
        assert.equal(answer, 'unreachable: no answer within 1000 ms', scheme);
        assert.ok(took < 1700, `${scheme}: took ${took} ms`);
      }
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
