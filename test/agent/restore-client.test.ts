// The Restore call over real gRPC between AgentConnection.restore and an AgentDaemon in this process: an agent
// that refuses at once ends the upload at once (the client stops writing instead of waiting for room in a
// stream nobody reads).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { AgentConnection } from '../../src/agent/client.js';
import { AgentDaemon } from '../../src/agent/daemon.js';
import { AgentStateError } from '../../src/agent/errors.js';
import { noopLogger } from '../../src/base/logger.js';

const TOKEN = 'kvat_restore-client-test-000000000';

describe('AgentConnection.restore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-restore-client-'));
  let daemon: AgentDaemon;
  let conn: AgentConnection;

  before(async () => {
    daemon = await AgentDaemon.start({
      name: 'a1',
      listen: '127.0.0.1:0',
      dir,
      token: TOKEN,
      version: 'test',
      kvctlCommand: [process.execPath, '-e', ''],
      etcdBinary: 'etcd',
      logger: noopLogger,
    });
    ({ conn } = await AgentConnection.firstContact(`127.0.0.1:${daemon.port}`, TOKEN));
  });
  after(async () => {
    conn?.close();
    await daemon?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a refusal ends an upload of 64 MiB at once', async () => {
    let sent = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 1024; i++) {
        sent += 65536;
        yield Buffer.alloc(65536, i);
      }
    }
    const t0 = Date.now();
    await assert.rejects(conn.restore({ spec: undefined, size: 64n << 20n, sha256: Buffer.alloc(32), skipHashCheck: false }, endless(), 10_000), (err: Error) => {
      assert.ok(err instanceof AgentStateError, err.message);
      assert.match(err.message, /agent a1 is not enrolled in a cluster yet/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    assert.ok(sent < 64 << 20, 'the upload stopped before the end');
  });
});
