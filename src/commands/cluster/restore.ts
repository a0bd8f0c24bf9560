import { Args, Flags } from '@oclif/core';

import { type ClusterRestoreResult, PlanError, RestoreNotConfirmed, StepError, loadContext, restoreCluster } from '../../agent/index.js';
import { BaseCommand } from '../../cli/base-command.js';
import { renderTable } from '../../cli/table.js';

export default class ClusterRestore extends BaseCommand<ClusterRestoreResult> {
  static override summary = "Restores every member of the context's cluster from one snapshot file, through their agents, as a new cluster.";

  static override description = `Checks the snapshot (readable, its SHA-256 trailer, its format: a real etcd's bbolt \
file for --runtime etcd members, kvctl's own for kvctl members) and every agent first, and without --yes stops there \
saying what would be replaced. With --yes: stops every member, sends the file to every agent, which restores it as \
one member of a NEW cluster (new initial cluster token, so new member and cluster ids; the keys and revision are the \
snapshot's) and keeps the member's previous data dir beside it as <data dir>.before-restore; then starts every \
member and waits until all are healthy. A failure half way says what was done and what is left: run the same \
command again to finish.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> backup.db',
    '<%= config.bin %> <%= command.id %> backup.db --yes',
    '<%= config.bin %> <%= command.id %> member/snap/db --skip-hash-check --yes --context prod',
  ];

  static override args = { file: Args.string({ description: 'the snapshot file (kvctl snapshot save, etcdctl snapshot save)', required: true }) };

  static override flags = {
    context: Flags.string({ description: 'the cluster context (default: the current one)', env: 'KVCTL_CONTEXT' }),
    yes: Flags.boolean({ description: "replace every member's data (without it: check and say what would be replaced)", default: false }),
    'skip-hash-check': Flags.boolean({ description: 'accept a file without the SHA-256 trailer (a db copied out of a data dir)', default: false }),
    timeout: Flags.integer({ description: 'seconds to wait for the restored cluster to become healthy', default: 90, min: 1 }),
  };

  async run(): Promise<ClusterRestoreResult> {
    const { args, flags } = await this.parse(ClusterRestore);
    const ctx = await loadContext(flags.context);
    if (ctx === undefined) throw new PlanError('no current cluster context (kvctl cluster bootstrap saves one; --context names another)');
    const progress = (line: string) => {
      if (!this.jsonEnabled()) this.logToStderr(line);
    };
    let result: ClusterRestoreResult;
    try {
      result = await restoreCluster({ ctx, snapshotPath: args.file, yes: flags.yes, skipHashCheck: flags['skip-hash-check'], progress, timeoutMs: flags.timeout * 1000 });
    } catch (err) {
      if (err instanceof RestoreNotConfirmed && !this.jsonEnabled()) for (const line of err.details) this.logToStderr(line);
      if (err instanceof StepError && !this.jsonEnabled()) {
        this.logToStderr(err.message);
        this.logToStderr(`done: ${err.done.join('; ') || 'nothing'}`);
        this.logToStderr(`left: ${err.left.join('; ')}`);
      }
      throw err;
    }
    if (!this.jsonEnabled()) {
      const table = renderTable(
        result.members.map((m) => [m.member, m.id, m.agent, m.peerUrls.join(','), m.health === 'true' ? 'healthy' : m.health, m.keptAs]),
        ['MEMBER', 'NEW ID', 'AGENT', 'PEER URLS', 'HEALTH', 'DATA BEFORE THE RESTORE'],
      );
      process.stdout.write(`${table}\n`);
      const s = result.snapshot;
      this.log(
        `Cluster ${result.cluster} restored from ${s.path}${s.revision !== undefined ? ` (revision ${s.revision}${s.totalKeys !== undefined ? `, ${s.totalKeys} total keys` : ''})` : ''} as new cluster ${result.clusterId} in ${(result.tookMs / 1000).toFixed(1)} s; all ${result.members.length} members healthy.`,
      );
    }
    return result;
  }
}
