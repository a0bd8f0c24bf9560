import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../cli/base-command.js';
import { humanizeBytes } from '../../base/go-format.js';
import { renderEtcdTable } from '../../cli/output.js';
import { type SnapshotFileStatus, snapshotFileStatus } from '../../server/index.js';

export type SnapshotStatusResult = { hash: number; revision: number; totalKey: number; totalSize: number };

export default class SnapshotStatus extends BaseCommand<SnapshotStatusResult> {
  static override summary = 'Gets backend snapshot status of a given file';

  static override description = `Prints the hash, revision, total keys and size of a snapshot file saved by \
kvctl snapshot save (or etcdctl snapshot save from a kvctl node), in etcdctl's formats. A file whose SHA-256 \
trailer does not match is refused. Snapshots of a real etcd are bbolt files, which this command does not read.`;

  static override examples = ['<%= config.bin %> <%= command.id %> backup.db -w table'];

  static override args = { filename: Args.string({ description: 'the snapshot file', required: true }) };

  static override flags = {
    'write-out': Flags.option({ char: 'w', description: 'set the output format', options: ['simple', 'json', 'table'] as const, default: 'simple' as const })(),
  };

  async run(): Promise<SnapshotStatusResult> {
    const { args, flags } = await this.parse(SnapshotStatus);
    const s: SnapshotFileStatus = await snapshotFileStatus(args.filename);
    const result = { hash: s.hash, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize };
    const hash = s.hash.toString(16);
    if (flags['write-out'] === 'json') this.log(JSON.stringify(result));
    else if (flags['write-out'] === 'table') {
      this.log(renderEtcdTable(['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'], [[hash, String(s.revision), String(s.totalKey), humanizeBytes(s.totalSize)]]).trimEnd());
    } else this.log(`${hash}, ${s.revision}, ${s.totalKey}, ${humanizeBytes(s.totalSize)}`);
    return result;
  }
}
