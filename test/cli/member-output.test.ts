// etcdctl's output for the membership commands, endpoint hashkv and move-leader, byte for byte: the expected
// texts are what etcdctl 3.4.23 printed against etcd 3.4.23 for these responses (the `--hex` JSON is etcdctl
// 3.5's, which 3.4 does not have). test/e2e/member-commands.test.ts compares the live outputs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { HashKVResponse, Member, MemberAddResponse, MemberListResponse } from '../../src/client/index.js';
import { CtlError } from '../../src/cli/ctl-error.js';
import {
  checkChangeWriteOut,
  goParseUint16,
  hex16,
  parseMemberIdArg,
  peerUrlsOf,
  printHashKV,
  printMemberAdd,
  printMemberList,
  printMemberPromote,
  printMemberRemove,
  printMemberUpdate,
  printMoveLeader,
} from '../../src/cli/member-output.js';

const s = (b: Buffer): string => b.toString('utf8');
const member = (ID: bigint, name: string, peer: string, client: string, isLearner = false): Member => ({
  ID,
  name,
  peerURLs: [peer],
  clientURLs: client === '' ? [] : [client],
  isLearner,
});

const clusterId = 15779921623227736442n; // dafd8b1c57fea17a
const m3 = member(9447885488753657150n, 'm3', 'http://127.0.0.3:31380', 'http://127.0.0.3:31379');
const m2 = member(11527110290130509720n, 'm2', 'http://127.0.0.2:31380', 'http://127.0.0.2:31379');
const learner = member(12833576292584719410n, '', 'http://127.0.0.1:31390', '', true); // b21a05a495630432
const m1 = member(17977954669848368441n, 'm1', 'http://127.0.0.1:31380', 'http://127.0.0.1:31379');
const list: MemberListResponse = {
  header: { clusterId, memberId: 11527110290130509720n, revision: 0n, raftTerm: 2n },
  members: [m3, m2, learner, m1],
};

function ctlError(f: () => unknown): [string, number] {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof CtlError);
    return [err.message, err.exitCode];
  }
  assert.fail('no error');
}

describe('member IDs', () => {
  it("print as Go's %16x (space padded) in the change messages", () => {
    assert.equal(hex16(0xb21a05a495630432n), 'b21a05a495630432');
    assert.equal(hex16(0x7a23c67093a3029n), ' 7a23c67093a3029');
    assert.equal(hex16(0x12n), '              12');
  });

  it("parse as strconv.ParseUint(arg, 16, 64), with etcdctl's message and exit code", () => {
    assert.equal(parseMemberIdArg('b21a05a495630432'), 12833576292584719410n);
    assert.equal(parseMemberIdArg('FFFFFFFFFFFFFFFF'), 0xffffffffffffffffn);
    assert.deepEqual(ctlError(() => parseMemberIdArg('zz')), ['bad member ID arg (strconv.ParseUint: parsing "zz": invalid syntax), expecting ID in Hex', 128]);
    assert.deepEqual(ctlError(() => parseMemberIdArg('0x12')), ['bad member ID arg (strconv.ParseUint: parsing "0x12": invalid syntax), expecting ID in Hex', 128]);
    assert.deepEqual(ctlError(() => parseMemberIdArg('-1')), ['bad member ID arg (strconv.ParseUint: parsing "-1": invalid syntax), expecting ID in Hex', 128]);
    assert.deepEqual(ctlError(() => parseMemberIdArg('1ffffffffffffffff')), [
      'bad member ID arg (strconv.ParseUint: parsing "1ffffffffffffffff": value out of range), expecting ID in Hex',
      128,
    ]);
    assert.throws(() => goParseUint16(''), { message: 'strconv.ParseUint: parsing "": invalid syntax' });
  });

  it('--peer-urls: required (exit 128), and a bad URL fails as the client call fails in etcdctl (exit 1)', () => {
    assert.deepEqual(peerUrlsOf('http://a:1,http://b:2'), ['http://a:1', 'http://b:2']);
    assert.deepEqual(ctlError(() => peerUrlsOf('')), ['member peer urls not provided', 128]);
    assert.deepEqual(ctlError(() => peerUrlsOf('ftp://a:1')), ['URL scheme must be http, https, unix, or unixs: ftp://a:1', 1]);
  });
});

describe('member add, remove, update, promote', () => {
  const add: MemberAddResponse = {
    header: { clusterId, memberId: 17977954669848368441n, revision: 0n, raftTerm: 2n },
    member: { ...learner, clientURLs: [] },
    members: [m3, m2, learner, m1],
  };

  it('add: the line, a blank line, and the settings to start the new member with', () => {
    assert.equal(
      s(printMemberAdd('simple', add, { name: 'm4', peerUrls: 'http://127.0.0.1:31390' })),
      'Member b21a05a495630432 added to cluster dafd8b1c57fea17a\n' +
        '\n' +
        'ETCD_NAME="m4"\n' +
        'ETCD_INITIAL_CLUSTER="m3=http://127.0.0.3:31380,m2=http://127.0.0.2:31380,m4=http://127.0.0.1:31390,m1=http://127.0.0.1:31380"\n' +
        'ETCD_INITIAL_ADVERTISE_PEER_URLS="http://127.0.0.1:31390"\n' +
        'ETCD_INITIAL_CLUSTER_STATE="existing"\n',
    );
    // Another member that has not started has no name (etcdctl prints it so); names and URLs are %q-quoted.
    const other = member(1n, '', 'http://127.0.0.9:1', '');
    const two = { ...add, members: [other, ...add.members] };
    const out = s(printMemberAdd('simple', two, { name: 'a"b', peerUrls: ' http://127.0.0.1:31390' }));
    assert.match(out, /\nETCD_NAME="a\\"b"\nETCD_INITIAL_CLUSTER="=http:\/\/127\.0\.0\.9:1,m3=.*,a\\"b=http:\/\/127\.0\.0\.1:31390,m1=/);
    assert.match(out, /\nETCD_INITIAL_ADVERTISE_PEER_URLS=" http:\/\/127\.0\.0\.1:31390"\n/);
  });

  it('add -w json: the response, the new member and the members after the change', () => {
    assert.equal(
      s(printMemberAdd('json', add, { name: 'm4', peerUrls: '' })),
      '{"header":{"cluster_id":15779921623227736442,"member_id":17977954669848368441,"raft_term":2},' +
        '"member":{"ID":12833576292584719410,"peerURLs":["http://127.0.0.1:31390"],"isLearner":true},' +
        '"members":[{"ID":9447885488753657150,"name":"m3","peerURLs":["http://127.0.0.3:31380"],"clientURLs":["http://127.0.0.3:31379"]},' +
        '{"ID":11527110290130509720,"name":"m2","peerURLs":["http://127.0.0.2:31380"],"clientURLs":["http://127.0.0.2:31379"]},' +
        '{"ID":12833576292584719410,"peerURLs":["http://127.0.0.1:31390"],"isLearner":true},' +
        '{"ID":17977954669848368441,"name":"m1","peerURLs":["http://127.0.0.1:31380"],"clientURLs":["http://127.0.0.1:31379"]}]}\n',
    );
  });

  it('remove, update, promote: one line each; json is the response', () => {
    const r = { header: list.header, members: [m1] };
    assert.equal(s(printMemberRemove('simple', 0xf1748316ea8425d0n, r)), 'Member f1748316ea8425d0 removed from cluster dafd8b1c57fea17a\n');
    assert.equal(s(printMemberUpdate('simple', 0x7a23c67093a3029n, r)), 'Member  7a23c67093a3029 updated in cluster dafd8b1c57fea17a\n');
    assert.equal(s(printMemberPromote('simple', 0xb21a05a495630432n, r)), 'Member b21a05a495630432 promoted in cluster dafd8b1c57fea17a\n');
    const json =
      '{"header":{"cluster_id":15779921623227736442,"member_id":11527110290130509720,"raft_term":2},' +
      '"members":[{"ID":17977954669848368441,"name":"m1","peerURLs":["http://127.0.0.1:31380"],"clientURLs":["http://127.0.0.1:31379"]}]}\n';
    assert.equal(s(printMemberRemove('json', 1n, r)), json);
    assert.equal(s(printMemberUpdate('json', 1n, r)), json);
    assert.equal(s(printMemberPromote('json', 1n, r)), json);
  });

  it('fields and table are refused with exit code 4', () => {
    assert.equal(checkChangeWriteOut('simple'), 'simple');
    assert.equal(checkChangeWriteOut('json'), 'json');
    assert.deepEqual(ctlError(() => checkChangeWriteOut('fields')), ['fields not supported as output format', 4]);
    assert.deepEqual(ctlError(() => checkChangeWriteOut('table')), ['table not supported as output format', 4]);
  });
});

describe('member list', () => {
  it('simple: one comma-separated row per member, "unstarted" for one without a name', () => {
    assert.equal(
      s(printMemberList('simple', list)),
      '831da1cb83bac53e, started, m3, http://127.0.0.3:31380, http://127.0.0.3:31379, false\n' +
        '9ff885bc51fa9f98, started, m2, http://127.0.0.2:31380, http://127.0.0.2:31379, false\n' +
        'b21a05a495630432, unstarted, , http://127.0.0.1:31390, , true\n' +
        'f97e86855c631539, started, m1, http://127.0.0.1:31380, http://127.0.0.1:31379, false\n',
    );
  });

  it('table', () => {
    assert.equal(
      s(printMemberList('table', list)),
      '+------------------+-----------+------+------------------------+------------------------+------------+\n' +
        '|        ID        |  STATUS   | NAME |       PEER ADDRS       |      CLIENT ADDRS      | IS LEARNER |\n' +
        '+------------------+-----------+------+------------------------+------------------------+------------+\n' +
        '| 831da1cb83bac53e |   started |   m3 | http://127.0.0.3:31380 | http://127.0.0.3:31379 |      false |\n' +
        '| 9ff885bc51fa9f98 |   started |   m2 | http://127.0.0.2:31380 | http://127.0.0.2:31379 |      false |\n' +
        '| b21a05a495630432 | unstarted |      | http://127.0.0.1:31390 |                        |       true |\n' +
        '| f97e86855c631539 |   started |   m1 | http://127.0.0.1:31380 | http://127.0.0.1:31379 |      false |\n' +
        '+------------------+-----------+------+------------------------+------------------------+------------+\n',
    );
  });

  it('json, and json --hex as etcdctl 3.5 prints it', () => {
    const members =
      '{"ID":9447885488753657150,"name":"m3","peerURLs":["http://127.0.0.3:31380"],"clientURLs":["http://127.0.0.3:31379"]},' +
      '{"ID":11527110290130509720,"name":"m2","peerURLs":["http://127.0.0.2:31380"],"clientURLs":["http://127.0.0.2:31379"]},' +
      '{"ID":12833576292584719410,"peerURLs":["http://127.0.0.1:31390"],"isLearner":true},' +
      '{"ID":17977954669848368441,"name":"m1","peerURLs":["http://127.0.0.1:31380"],"clientURLs":["http://127.0.0.1:31379"]}';
    assert.equal(
      s(printMemberList('json', list)),
      `{"header":{"cluster_id":15779921623227736442,"member_id":11527110290130509720,"raft_term":2},"members":[${members}]}\n`,
    );
    assert.equal(
      s(printMemberList('json', list, { hex: true })),
      '{"header":{"cluster_id":"dafd8b1c57fea17a","member_id":"9ff885bc51fa9f98","raft_term":2},"members":[' +
        '{"ID":"831da1cb83bac53e","name":"m3","peerURLs":["http://127.0.0.3:31380"],"clientURLS":["http://127.0.0.3:31379"]},' +
        '{"ID":"9ff885bc51fa9f98","name":"m2","peerURLs":["http://127.0.0.2:31380"],"clientURLS":["http://127.0.0.2:31379"]},' +
        '{"ID":"b21a05a495630432","name":"","peerURLs":["http://127.0.0.1:31390"],"clientURLS":null},' +
        '{"ID":"f97e86855c631539","name":"m1","peerURLs":["http://127.0.0.1:31380"],"clientURLS":["http://127.0.0.1:31379"]}]}\n',
    );
    assert.equal(s(printMemberList('json', { header: list.header, members: [] }, { hex: true })), '{"header":{"cluster_id":"dafd8b1c57fea17a","member_id":"9ff885bc51fa9f98","raft_term":2}}\n');
  });

  it('fields', () => {
    const out = s(printMemberList('fields', { ...list, members: [m3, learner] }));
    assert.equal(
      out,
      '"ClusterID" : 15779921623227736442\n"MemberID" : 11527110290130509720\n"Revision" : 0\n"RaftTerm" : 2\n' +
        '"ID" : 9447885488753657150\n"Name" : "m3"\n"PeerURL" : "http://127.0.0.3:31380"\n"ClientURL" : "http://127.0.0.3:31379"\n"IsLearner" : false\n\n' +
        '"ID" : 12833576292584719410\n"Name" : ""\n"PeerURL" : "http://127.0.0.1:31390"\n"IsLearner" : true\n\n',
    );
  });
});

describe('endpoint hashkv', () => {
  const header = { clusterId, memberId: 17977954669848368441n, revision: 2n, raftTerm: 2n };
  const hk = (memberId: bigint): HashKVResponse => ({ header: { ...header, memberId }, hash: 3628877040, compactRevision: -1n, hashRevision: 0n });
  const list = [
    { endpoint: '127.0.0.1:31379', hashKV: hk(17977954669848368441n) },
    { endpoint: '127.0.0.2:31379', hashKV: hk(11527110290130509720n) },
  ];

  it('simple, table, json, fields', () => {
    assert.equal(s(printHashKV('simple', list)), '127.0.0.1:31379, 3628877040\n127.0.0.2:31379, 3628877040\n');
    assert.equal(
      s(printHashKV('table', list)),
      '+-----------------+------------+\n|    ENDPOINT     |    HASH    |\n+-----------------+------------+\n' +
        '| 127.0.0.1:31379 | 3628877040 |\n| 127.0.0.2:31379 | 3628877040 |\n+-----------------+------------+\n',
    );
    assert.equal(
      s(printHashKV('json', list.slice(0, 1))),
      '[{"Endpoint":"127.0.0.1:31379","HashKV":{"header":{"cluster_id":15779921623227736442,"member_id":17977954669848368441,"revision":2,"raft_term":2},"hash":3628877040,"compact_revision":-1}}]\n',
    );
    assert.equal(
      s(printHashKV('fields', list.slice(0, 1))),
      '"ClusterID" : 15779921623227736442\n"MemberID" : 17977954669848368441\n"Revision" : 2\n"RaftTerm" : 2\n"Endpoint" : "127.0.0.1:31379"\n"Hash" : 3628877040\n\n',
    );
  });

  it('no endpoint answered: json [] and a table without rows, as etcdctl prints them', () => {
    assert.equal(s(printHashKV('json', [])), '[]\n');
    assert.equal(s(printHashKV('table', [])), '+----------+------+\n| ENDPOINT | HASH |\n+----------+------+\n+----------+------+\n');
    assert.equal(s(printHashKV('simple', [])), '');
  });

  it("an etcd 3.5 server's hash revision is shown as etcdctl 3.5 shows it", () => {
    const r = [{ endpoint: 'e', hashKV: { ...hk(1n), hashRevision: 7n } }];
    assert.match(s(printHashKV('json', r)), /"compact_revision":-1,"hash_revision":7\}\}\]\n$/);
    assert.match(s(printHashKV('fields', r)), /"Hash" : 3628877040\n"HashRevision" : 7\n\n$/);
  });
});

describe('move-leader', () => {
  it('simple names both members in unpadded hex; json is the response (etcd 3.4 sends no header)', () => {
    assert.equal(s(printMoveLeader('simple', 0x831da1cb83bac53en, 0x7a23c67093a3029n, { header: undefined })), 'Leadership transferred from 831da1cb83bac53e to 7a23c67093a3029\n');
    assert.equal(s(printMoveLeader('json', 1n, 2n, { header: undefined })), '{}\n');
  });
});
