// Endpoint parsing: the forms etcdctl's --endpoints accepts, and clear errors for the rest.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ClientError, parseEndpoint, parseEndpoints } from '../../src/client/index.js';

describe('parseEndpoint', () => {
  it('takes host:port and keeps the text as written', () => {
    assert.deepEqual(parseEndpoint('127.0.0.1:2379'), { raw: '127.0.0.1:2379', scheme: undefined, secure: false, host: '127.0.0.1', port: 2379, target: '127.0.0.1:2379' });
    assert.equal(parseEndpoint(' localhost:23790 ').raw, 'localhost:23790');
  });

  it('takes http:// and https:// URLs, https meaning TLS', () => {
    assert.deepEqual(parseEndpoint('http://127.0.0.2:2379'), { raw: 'http://127.0.0.2:2379', scheme: 'http', secure: false, host: '127.0.0.2', port: 2379, target: '127.0.0.2:2379' });
    const tls = parseEndpoint('HTTPS://etcd.example.test:2379/');
    assert.equal(tls.secure, true);
    assert.equal(tls.target, 'etcd.example.test:2379');
  });

  it('brackets IPv6 hosts in the gRPC target', () => {
    const ep = parseEndpoint('http://[::1]:2379');
    assert.equal(ep.host, '::1');
    assert.equal(ep.target, '[::1]:2379');
  });

  it('rejects what etcd cannot dial, naming the endpoint', () => {
    for (const [input, why] of [
      ['127.0.0.1', /expected host:port/],
      ['unix:///tmp/etcd.sock', /unsupported scheme "unix"/],
      ['127.0.0.1:0', /port 0 out of range/],
      ['127.0.0.1:99999', /out of range/],
      ['http://127.0.0.1:2379/v3', /a path is not allowed/],
      ['', /empty/],
    ] as const) {
      assert.throws(
        () => parseEndpoint(input),
        (err: unknown) => err instanceof ClientError && err.code === 'BAD_ENDPOINT' && why.test(err.message) && err.message.includes(`"${input}"`),
        input,
      );
    }
  });
});

describe('parseEndpoints', () => {
  it('splits comma-separated lists and skips empty entries', () => {
    assert.deepEqual(
      parseEndpoints(['127.0.0.1:2379,127.0.0.2:2379', ' http://127.0.0.3:2379 ,']).map((e) => e.raw),
      ['127.0.0.1:2379', '127.0.0.2:2379', 'http://127.0.0.3:2379'],
    );
  });

  it('needs at least one endpoint', () => {
    assert.throws(() => parseEndpoints(' , '), /no endpoints given/);
  });
});
