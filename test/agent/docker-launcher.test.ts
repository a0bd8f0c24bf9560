// The docker runtime's pure parts: container names, how an end is described, the systemd unit's docker run line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { containerName, describeContainerExit, dockerRunCommand } from '../../src/agent/docker.js';
import { memberLayout } from '../../src/agent/spec.js';
import type { NodeSpec } from '../../src/proto/gen/kvctl/agent/v1/agent.js';

describe('docker runtime', () => {
  it('names a container after its member and, by a hash, its agent dir', () => {
    const a = containerName('m1', '/var/lib/kvctl-agent');
    assert.match(a, /^kvctl-m1-[0-9a-f]{8}$/);
    assert.equal(containerName('m1', '/var/lib/kvctl-agent'), a, 'stable: a restarted agent finds it again');
    assert.notEqual(containerName('m1', '/srv/other-agent'), a, 'two agents on one host never share a name');
  });

  it('describes an end by its exit code, and a signal behind a code above 128 (docker-init reports 128 + signal)', () => {
    assert.equal(describeContainerExit(0), 'exit code 0');
    assert.equal(describeContainerExit(1), 'exit code 1');
    assert.equal(describeContainerExit(137), 'exit code 137 (SIGKILL)');
    assert.equal(describeContainerExit(143), 'exit code 143 (SIGTERM)');
    assert.equal(describeContainerExit(255), 'exit code 255');
  });

  it('renders the docker run line that runs the same container without the agent', () => {
    const layout = memberLayout('/var/lib/kvctl-agent');
    const line = dockerRunCommand({ memberName: 'infra0', image: 'registry.example/etcd:3.5' } as NodeSpec, layout, '/var/lib/kvctl-agent');
    assert.ok(line.startsWith('docker run --rm --pull=never --network host --init '), line);
    assert.ok(line.includes(`--name ${containerName('infra0', '/var/lib/kvctl-agent')} `), line);
    assert.ok(line.includes('--env-file /var/lib/kvctl-agent/member/etcd.env'), line);
    assert.ok(line.includes('-v /var/lib/kvctl-agent/member:/var/lib/kvctl-agent/member:ro -v /var/lib/kvctl-agent/data:/var/lib/kvctl-agent/data'), line);
    assert.ok(line.endsWith(' registry.example/etcd:3.5'), line);
  });
});
