import { Args } from '@oclif/core';

import { ClientError, downloadSnapshot } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type SnapshotSaveResult = { path: string; size: number; revision: number | null };

export default class SnapshotSave extends ClientCommand<SnapshotSaveResult> {
  static override summary = 'Stores an etcd node backend snapshot to a given file';

  static override description = `Downloads a consistent snapshot of one member's backend (etcd's Maintenance.Snapshot) into \
<filename>, like etcdctl snapshot save: the stream goes to <filename>.part, the SHA-256 trailer the member \
appends is checked, then the file is synced and renamed. Works against kvctl nodes and real etcd members; \
exactly one endpoint must be given.`;

  static override examples = ['<%= config.bin %> <%= command.id %> backup.db --endpoints 127.0.0.1:2379'];

  static override args = { filename: Args.string({ description: 'file to write the snapshot to', required: true }) };

  async run(): Promise<SnapshotSaveResult> {
    const { args, flags } = await this.parse(SnapshotSave);
    const endpoints = this.createClient(flags).endpoints.map((e) => e.raw);
    if (endpoints.length !== 1) {
      throw new CtlError(`snapshot must be requested to one selected node, not multiple ${JSON.stringify(endpoints)}`, ExitCode.ExitBadArgs);
    }
    let saved;
    try {
      saved = await downloadSnapshot(await this.connect(flags), args.filename);
    } catch (err) {
      if (err instanceof ClientError) throw err;
      throw new CtlError(`could not write ${args.filename}: ${(err as Error).message}`, ExitCode.ExitError, { cause: err });
    }
    this.log(`Snapshot saved at ${args.filename}`);
    const result = { path: saved.path, size: saved.size, revision: saved.revision === undefined ? null : Number(saved.revision) };
    this.printJson(result);
    return result;
  }

  protected jsonOf(result: SnapshotSaveResult): string {
    return JSON.stringify(result);
  }
}
