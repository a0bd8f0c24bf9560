import { resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';

import { levelLogger } from '../../base/logger.js';
import { BaseCommand } from '../../cli/base-command.js';
import { humanizeBytes } from '../../base/go-format.js';
import { type RestoreReport, restoreSnapshot } from '../../server/index.js';

export type SnapshotRestoreResult = {
  dataDir: string;
  walDir: string;
  name: string;
  /** Hex, as etcd prints ids. */
  memberId: string;
  clusterId: string;
  members: Array<{ name: string; id: string; peerURLs: string[] }>;
  revision: number;
  totalKey: number;
  totalSize: number;
  hashChecked: boolean;
  oldMembersRemoved: number;
  alarmsCleared: number;
};

export default class SnapshotRestore extends BaseCommand<SnapshotRestoreResult> {
  static override summary = 'Restores an etcd member snapshot to an etcd directory';

  static override description = `Makes the data dir of one member of a NEW cluster from a snapshot file written by \
kvctl snapshot save (or etcdctl snapshot save from a kvctl node), like etcdctl snapshot restore. Run it once per \
member with the same file, --initial-cluster and --initial-cluster-token, changing --name, \
--initial-advertise-peer-urls and --data-dir; then start every member on its data dir. The new cluster keeps the \
snapshot's keys, revision, leases, users and roles; its member ids and cluster id are new (derived from the peer \
URLs and the token), so it cannot be mistaken for the old cluster. The data dir (and --wal-dir) must not exist. \
Snapshots of a real etcd are bbolt files, which this command does not read.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> backup.db --name m1 --data-dir /var/lib/kvctl/m1 --initial-cluster m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380 --initial-cluster-token restored-1 --initial-advertise-peer-urls http://10.0.0.1:2380',
    '<%= config.bin %> <%= command.id %> member/snap/db --skip-hash-check --data-dir recovered.etcd',
  ];

  static override args = { filename: Args.string({ description: 'the snapshot file', required: true }) };

  static override flags = {
    name: Flags.string({ description: 'Human-readable name for this member', default: 'default' }),
    'data-dir': Flags.string({ description: 'Path to the data directory (default: <name>.etcd)' }),
    'wal-dir': Flags.string({ description: 'Path to the WAL directory (default: <data-dir>/member/wal)', default: '' }),
    'initial-cluster': Flags.string({ description: 'Initial cluster configuration for restore bootstrap', default: 'default=http://localhost:2380' }),
    'initial-cluster-token': Flags.string({ description: 'Initial cluster token for the etcd cluster during restore bootstrap', default: 'etcd-cluster' }),
    'initial-advertise-peer-urls': Flags.string({ description: "List of this member's peer URLs to advertise to the rest of the cluster", default: 'http://localhost:2380' }),
    'skip-hash-check': Flags.boolean({ description: 'Ignore snapshot integrity hash value (required if copied from data directory)', default: false }),
    'write-out': Flags.option({ char: 'w', description: 'set the output format', options: ['simple', 'json'] as const, default: 'simple' as const })(),
  };

  async run(): Promise<SnapshotRestoreResult> {
    const { args, flags } = await this.parse(SnapshotRestore);
    const dataDir = flags['data-dir'] ?? `${flags.name}.etcd`;
    const toStderr = (line: string) => this.logToStderr(line);
    const report = await restoreSnapshot({
      snapshotPath: args.filename,
      name: flags.name,
      dataDir,
      walDir: flags['wal-dir'],
      initialCluster: flags['initial-cluster'],
      initialClusterToken: flags['initial-cluster-token'],
      initialAdvertisePeerUrls: flags['initial-advertise-peer-urls'],
      skipHashCheck: flags['skip-hash-check'],
      logger: levelLogger('warn', (level, message) => toStderr(`${level.toUpperCase()}\t${message}`)),
      onProgress: toStderr,
    });
    const result = resultOf(report);
    if (flags['write-out'] === 'json') this.log(JSON.stringify(result));
    else for (const line of summary(report, flags['initial-cluster'], flags['initial-cluster-token'])) this.log(line);
    return result;
  }
}

function resultOf(r: RestoreReport): SnapshotRestoreResult {
  return {
    dataDir: r.dataDir,
    walDir: r.walDir,
    name: r.member.name,
    memberId: r.member.id.toString(16),
    clusterId: r.clusterId.toString(16),
    members: r.members.map((m) => ({ name: m.name, id: m.id.toString(16), peerURLs: [...m.peerUrls] })),
    revision: r.revision,
    totalKey: r.keys,
    totalSize: r.dbSize,
    hashChecked: r.hashChecked,
    oldMembersRemoved: r.oldMembersRemoved,
    alarmsCleared: r.alarmsCleared,
  };
}

/** What was made and what the operator does next. */
function summary(r: RestoreReport, initialCluster: string, token: string): string[] {
  const others = r.members.filter((m) => m.id !== r.member.id).map((m) => m.name).sort();
  const peers = r.member.peerUrls.join(',');
  return [
    `Restored snapshot into ${r.dataDir}: revision ${r.revision}, ${r.keys} keys, ${humanizeBytes(r.dbSize)}${r.hashChecked ? ', SHA-256 checked' : ', hash not checked'}`,
    `Member ${r.member.name} (${r.member.id.toString(16)}) of NEW cluster ${r.clusterId.toString(16)} with ${r.members.length} member(s):`,
    ...r.members.map((m) => `  ${m.id.toString(16)}  ${m.name}  ${m.peerUrls.join(',')}`),
    ...(others.length > 0
      ? [`Next: restore ${others.join(', ')} from the same file with the same --initial-cluster and --initial-cluster-token, then start every member.`]
      : []),
    `Start this member with: kvctl node --name ${r.member.name} --data-dir ${r.dataDir}${resolve(r.walDir) === resolve(r.dataDir, 'member', 'wal') ? '' : ` --wal-dir ${r.walDir}`} --initial-cluster ${initialCluster} --initial-cluster-token ${token} --initial-advertise-peer-urls ${peers} --listen-peer-urls ${peers} (plus its client URL flags)`,
  ];
}
