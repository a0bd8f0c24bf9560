// The real etcdctl 3.4 with `--endpoints=http://host:port` against a `kvctl node`: for endpoint status,
// hashkv, defrag and the --cluster forms grpc-go sends the whole URL as the HTTP/2 `:authority`, which
// Node's HTTP/2 server refuses unless the listener's authority fix cuts it to host:port
// (src/server/api/authority.ts). Normal clients must not notice the fix.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { kvctl } from './kvctl.js';
import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';

/** etcdctl's `-w json` output of an endpoint command, without the Endpoint field (it echoes the flag). */
function withoutEndpoint(stdout: string): unknown {
  const parsed = JSON.parse(stdout) as Record<string, unknown>[];
  return parsed.map(({ Endpoint: _endpoint, ...rest }) => rest);
}

/** The SETTINGS frame the node sends first on an HTTP/2 connection, as id -> value. */
async function serverSettings(host: string, port: number): Promise<Map<number, number>> {
  const socket = connect(port, host);
  try {
    return await new Promise<Map<number, number>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SETTINGS from the node in 5 s')), 5000);
      let got = Buffer.alloc(0);
      socket.on('error', reject);
      socket.on('connect', () => {
        socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
      });
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length < 9) return;
        const length = got.readUIntBE(0, 3);
        if (got.length < 9 + length) return;
        clearTimeout(timer);
        assert.equal(got[3], 0x4, 'the server preface is a SETTINGS frame');
        const settings = new Map<number, number>();
        for (let i = 9; i < 9 + length; i += 6) settings.set(got.readUInt16BE(i), got.readUInt32BE(i + 2));
        resolve(settings);
      });
    });
  } finally {
    socket.destroy();
  }
}

describe('etcdctl with http:// endpoints against kvctl node', { timeout: 120_000 }, () => {
  let node: KvNode;
  let url: string;
  let plain: string;
  const ctl = (endpoint: string, ...args: string[]) => etcdctl(endpoint, args);

  before(async () => {
    node = await startKvNode({ name: 'url0' });
    plain = node.endpoint;
    url = `http://${node.endpoint}`;
    for (let i = 0; i < 5; i++) assert.equal((await ctl(plain, 'put', `k${i}`, `v${i}`)).code, 0);
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
  });

  it('the node announces no SETTINGS_HEADER_TABLE_SIZE or SETTINGS_MAX_FRAME_SIZE besides the defaults the fix assumes', async () => {
    const settings = await serverSettings(node.host, node.clientPort);
    assert.ok([undefined, 4096].includes(settings.get(0x1)), `SETTINGS_HEADER_TABLE_SIZE ${settings.get(0x1)}`);
    assert.ok([undefined, 16_384].includes(settings.get(0x5)), `SETTINGS_MAX_FRAME_SIZE ${settings.get(0x5)}`);
  });

  for (const args of [
    ['endpoint', 'status'],
    ['endpoint', 'hashkv'],
    ['endpoint', 'status', '--cluster'],
    ['endpoint', 'hashkv', '--cluster'],
  ]) {
    it(`${args.join(' ')}: succeeds with http://host:port and matches host:port`, async () => {
      const viaUrl = await ctl(url, ...args, '-w', 'json');
      assert.equal(viaUrl.code, 0, viaUrl.stderr);
      const viaPlain = await ctl(plain, ...args, '-w', 'json');
      assert.equal(viaPlain.code, 0, viaPlain.stderr);
      assert.deepEqual(withoutEndpoint(viaUrl.stdout), withoutEndpoint(viaPlain.stdout));
      // The simple format too, up to the endpoint column (--cluster prints the advertised URL in both).
      const simple = await ctl(url, ...args);
      assert.equal(simple.code, 0, simple.stderr);
      const expected = (await ctl(plain, ...args)).stdout;
      const column = args.includes('--cluster') ? expected : expected.replace(`${plain},`, `${url},`);
      assert.equal(simple.stdout, column);
    });
  }

  it('defrag and defrag --cluster succeed with http://host:port', async () => {
    assert.deepEqual(await ctl(url, 'defrag'), { code: 0, stdout: `Finished defragmenting etcd member[${url}]\n`, stderr: '' });
    assert.deepEqual(await ctl(plain, 'defrag'), { code: 0, stdout: `Finished defragmenting etcd member[${plain}]\n`, stderr: '' });
    assert.deepEqual(await ctl(plain, 'defrag', '--cluster'), { code: 0, stdout: `Finished defragmenting etcd member[${url}]\n`, stderr: '' });
  });

  it('normal clients still work: etcdctl with host:port, and kvctl', async () => {
    assert.equal((await ctl(plain, 'put', 'n', '1')).stdout, 'OK\n');
    assert.equal((await ctl(plain, 'get', 'n', '--print-value-only')).stdout, '1\n');
    assert.equal((await ctl(url, 'get', 'k', '--prefix', '--keys-only')).stdout, 'k0\n\nk1\n\nk2\n\nk3\n\nk4\n\n');
    const got = await kvctl(['get', 'n', '--endpoints', plain]);
    assert.deepEqual(got, { code: 0, stdout: 'n\n1\n', stderr: '' });
    const status = await kvctl(['endpoint', 'status', '--endpoints', url, '-w', 'json']);
    assert.equal(status.code, 0, status.stderr);
    assert.doesNotMatch(node.log(), /closing client connection/);
  });

  it('a connection sending a malformed frame after a rewritten header block is closed; the node keeps serving', async () => {
    const socket = connect(node.clientPort, node.host);
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', () => {});
    try {
      const block = Buffer.concat([
        Buffer.from([0x83, 0x86, 0x04, 0x02]), Buffer.from('/x'), // POST, http, :path /x
        Buffer.from([0x01, url.length]), Buffer.from(url), // :authority (a URL)
      ]);
      const headers = Buffer.concat([Buffer.from([0, 0, block.length, 0x1, 0x4, 0, 0, 0, 1]), block]);
      const stray = Buffer.from([0, 0, 1, 0x9, 0x4, 0, 0, 0, 3, 0x82]); // CONTINUATION with no block open
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), headers]));
      await new Promise((r) => setTimeout(r, 200));
      socket.write(stray);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('connection not closed in 5 s')), 5000)))]);
      clearTimeout(timer);
    } finally {
      socket.destroy();
    }
    assert.match(node.log(), /closing client connection: http2 filter: CONTINUATION without an open header block/);
    assert.equal(node.process.exitCode, null);
    const status = await ctl(url, 'endpoint', 'status');
    assert.equal(status.code, 0, status.stderr);
  });
});
