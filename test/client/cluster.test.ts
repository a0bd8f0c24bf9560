// clientv3's fail-fast check of peer URLs (etcd's types.NewURLs over Go's url.Parse): the error texts below are
// what etcdctl 3.4.23 printed for `member add x --peer-urls=<url>` (after "Error: ").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ClientError, checkPeerUrls } from '../../src/client/index.js';

function refusal(urls: string[]): string {
  try {
    checkPeerUrls(urls);
  } catch (err) {
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'BAD_PEER_URL');
    assert.equal(err.kind, 'bad-request');
    return err.message;
  }
  return 'accepted';
}

describe('checkPeerUrls', () => {
  it("refuses what etcdctl refuses, with etcd's and Go's texts", () => {
    const cases: [string, string][] = [
      ['127.0.0.1:2380', 'parse "127.0.0.1:2380": first path segment in URL cannot contain colon'],
      ['http://127.0.0.1', 'URL address does not have the form "host:port": http://127.0.0.1'],
      ['http://127.0.0.1:2380/x', 'URL must not contain a path: http://127.0.0.1:2380/x'],
      ['http://127.0.0.1:2380/', 'URL must not contain a path: http://127.0.0.1:2380/'],
      ['http://[::1', `parse "http://[::1": missing ']' in host`],
      ['ftp://a:1', 'URL scheme must be http, https, unix, or unixs: ftp://a:1'],
      ['', 'URL scheme must be http, https, unix, or unixs: '],
      ['http://%zz:1', 'parse "http://%zz:1": invalid URL escape "%zz"'],
      ['http://127.0.0.1:abc', 'parse "http://127.0.0.1:abc": invalid port ":abc" after host'],
      ['http://a b:1', 'parse "http://a b:1": invalid character " " in host name'],
      ['http:foo', 'URL address does not have the form "host:port": http:foo'],
      [':foo', 'parse ":foo": missing protocol scheme'],
      ['http://[::1]:1:2', 'parse "http://[::1]:1:2": invalid port ":1:2" after host'],
      ['http://a:1#%zz', 'parse "http://a:1#%zz": invalid URL escape "%zz"'],
      ['http://x@y@z:1/', 'URL must not contain a path: http://x@y@z:1/'],
      ['http://a\x01:1', 'parse "http://a\\x01:1": net/url: invalid control character in URL'],
    ];
    for (const [url, message] of cases) assert.equal(refusal([url]), message, url);
    // A trailing comma in --peer-urls is an empty URL; the first bad URL is the one reported.
    assert.equal(refusal(['http://a:1', '']), 'URL scheme must be http, https, unix, or unixs: ');
    assert.equal(refusal([]), 'no valid URLs given');
  });

  it('accepts what etcdctl sends on (the server decides the rest)', () => {
    for (const url of [
      'http://127.0.0.1:2380',
      ' http://127.0.0.1:2380',
      'HTTP://127.0.0.1:2380',
      'https://[::1]:2380',
      'unix://foo:1',
      'unixs://foo:1',
      'http://:1',
      'http://a:',
      'http://u@127.0.0.1:2380',
      'http://127.0.0.1:2380?x=1',
      'http://127.0.0.1:2380#frag',
    ]) {
      assert.equal(refusal([url]), 'accepted', url);
    }
  });
});
