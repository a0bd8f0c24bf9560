// etcdctl 3.4's lease output, byte for byte (expected texts taken from etcdctl 3.4.23 against etcd 3.4.23).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CtlError } from '../../src/cli/ctl-error.js';
import {
  leaseIdHex,
  parseLeaseIdArg,
  printGrant,
  printKeepAlive,
  printLeases,
  printRevoke,
  printTimeToLive,
} from '../../src/cli/lease-output.js';

const header = { clusterId: 14729289341504398109n, memberId: 8801344476787919043n, revision: 3n, raftTerm: 2n };
const id = 5243212505251886099n; // 48c3a1fe696cb413
const s = (b: Buffer) => b.toString('latin1');

describe('lease IDs', () => {
  it("print as Go's %016x, sign included", () => {
    assert.equal(leaseIdHex(id), '48c3a1fe696cb413');
    assert.equal(leaseIdHex(0x1234n), '0000000000001234');
    assert.equal(leaseIdHex(-5n), '-000000000000005');
    assert.equal(leaseIdHex(0n), '0000000000000000');
  });

  it("parse as etcdctl does, with its message and exit code", () => {
    assert.equal(parseLeaseIdArg('48c3a1fe696cb413'), id);
    assert.equal(parseLeaseIdArg('-5'), -5n);
    assert.throws(
      () => parseLeaseIdArg('zz'),
      (err: unknown) =>
        err instanceof CtlError &&
        err.exitCode === 128 &&
        err.message === 'bad lease ID arg (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex',
    );
    assert.throws(() => parseLeaseIdArg('8000000000000000'), /value out of range/);
  });
});

describe('printers', () => {
  it('grant', () => {
    const r = { header, ID: id, TTL: 60n, error: '' };
    assert.equal(s(printGrant('simple', r)), 'lease 48c3a1fe696cb413 granted with TTL(60s)\n');
    assert.equal(
      s(printGrant('json', r)),
      '{"cluster_id":14729289341504398109,"member_id":8801344476787919043,"revision":3,"raft_term":2,"ID":5243212505251886099,"TTL":60,"Error":""}\n',
    );
    assert.equal(
      s(printGrant('fields', r)),
      '"ClusterID" : 14729289341504398109\n"MemberID" : 8801344476787919043\n"Revision" : 3\n"RaftTerm" : 2\n"ID" : 5243212505251886099\n"TTL" : 60\n',
    );
  });

  it('revoke', () => {
    assert.equal(s(printRevoke('simple', id, { header })), 'lease 48c3a1fe696cb413 revoked\n');
    assert.equal(
      s(printRevoke('json', id, { header })),
      '{"header":{"cluster_id":14729289341504398109,"member_id":8801344476787919043,"revision":3,"raft_term":2}}\n',
    );
    assert.equal(s(printRevoke('fields', id, { header })), '"ClusterID" : 14729289341504398109\n"MemberID" : 8801344476787919043\n"Revision" : 3\n"RaftTerm" : 2\n');
  });

  it('timetolive, with and without keys, and for a lease that is gone', () => {
    const keys = [Buffer.from('q"uo'), Buffer.from('sp ace'), Buffer.from([0xff])];
    const r = { header, ID: id, TTL: 99n, grantedTTL: 100n, keys };
    assert.equal(s(printTimeToLive('simple', r, false)), 'lease 48c3a1fe696cb413 granted with TTL(100s), remaining(99s)\n');
    assert.equal(s(printTimeToLive('simple', r, true)), 'lease 48c3a1fe696cb413 granted with TTL(100s), remaining(99s), attached keys([q"uo sp ace \xff])\n');
    assert.equal(
      s(printTimeToLive('simple', { ...r, keys: [] }, true)),
      'lease 48c3a1fe696cb413 granted with TTL(100s), remaining(99s), attached keys([])\n',
    );
    assert.equal(
      s(printTimeToLive('json', r, true)),
      '{"cluster_id":14729289341504398109,"member_id":8801344476787919043,"revision":3,"raft_term":2,"id":5243212505251886099,"ttl":99,"granted-ttl":100,"keys":["cSJ1bw==","c3AgYWNl","/w=="]}\n',
    );
    assert.match(s(printTimeToLive('json', { ...r, keys: [] }, true)), /"granted-ttl":100,"keys":null}\n$/);
    assert.equal(
      s(printTimeToLive('fields', r, true)),
      '"ClusterID" : 14729289341504398109\n"MemberID" : 8801344476787919043\n"Revision" : 3\n"RaftTerm" : 2\n"ID" : 5243212505251886099\n"TTL" : 99\n"GrantedTTL" : 100\n"Key" : "q\\"uo"\n"Key" : "sp ace"\n"Key" : "\\xff"\n',
    );
    const gone = { header, ID: 0x1234n, TTL: -1n, grantedTTL: 0n, keys: [] };
    assert.equal(s(printTimeToLive('simple', gone, true)), 'lease 0000000000001234 already expired\n');
    assert.match(s(printTimeToLive('json', gone, false)), /"id":4660,"ttl":-1,"granted-ttl":0,"keys":null}\n$/);
  });

  it('list', () => {
    const r = { header, leases: [{ ID: id }, { ID: 0x10n }] };
    assert.equal(s(printLeases('simple', r)), 'found 2 leases\n48c3a1fe696cb413\n0000000000000010\n');
    assert.equal(s(printLeases('simple', { header, leases: [] })), 'found 0 leases\n');
    assert.match(s(printLeases('json', { header, leases: [] })), /"raft_term":2,"leases":\[\]}\n$/);
    assert.match(s(printLeases('json', r)), /"leases":\[{"id":5243212505251886099},{"id":16}\]}\n$/);
    assert.match(s(printLeases('fields', r)), /"RaftTerm" : 2\n"ID" : 5243212505251886099\n"ID" : 16\n$/);
  });

  it('keep-alive', () => {
    const r = { header, ID: id, TTL: 5n };
    assert.equal(s(printKeepAlive('simple', r)), 'lease 48c3a1fe696cb413 keepalived with TTL(5)\n');
    assert.equal(
      s(printKeepAlive('json', r)),
      '{"cluster_id":14729289341504398109,"member_id":8801344476787919043,"revision":3,"raft_term":2,"ID":5243212505251886099,"TTL":5}\n',
    );
    assert.match(s(printKeepAlive('fields', r)), /"RaftTerm" : 2\n"ID" : 5243212505251886099\n"TTL" : 5\n$/);
  });
});
