import { Flags } from '@oclif/core';

import { type DownResult, PlanError, clusterDown, loadContext } from '../../agent/index.js';
import { BaseCommand } from '../../cli/base-command.js';

export default class ClusterDown extends BaseCommand<DownResult> {
  static override summary = "Stops a cluster's members through their agents (and the agents --local started).";

  static override description = `Stops every member of the context's cluster (SIGTERM: a leader hands leadership over \
first). For a cluster started with --local, the local agents are stopped too. With --purge the members' data, \
configuration and certificates are deleted, and for --local the whole local directory and the context: there is no \
undo. Without --purge, kvctl cluster up starts the same cluster again, data intact.`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --purge', '<%= config.bin %> <%= command.id %> --context prod'];

  static override flags = {
    context: Flags.string({ description: 'the cluster context (default: the current one)', env: 'KVCTL_CONTEXT' }),
    purge: Flags.boolean({ description: "also delete the members' data (and for --local, the agents' directory and the context)", default: false }),
  };

  async run(): Promise<DownResult> {
    const { flags } = await this.parse(ClusterDown);
    const ctx = await loadContext(flags.context);
    if (ctx === undefined) throw new PlanError('no current cluster context: nothing to stop (kvctl cluster bootstrap saves one; --context names another)');
    const result = await clusterDown(ctx, flags.purge, (line) => {
      if (!this.jsonEnabled()) this.logToStderr(line);
    });
    if (result.failed.length > 0) {
      this.error(`could not stop ${result.failed.map((f) => `${f.member} (${f.error})`).join(', ')}; the others are stopped. Run the command again once their agents answer.`, { exit: 1 });
    }
    this.log(`cluster ${ctx.name}: ${result.stopped.length} members ${flags.purge ? 'stopped and deleted' : 'stopped'}${result.agentsStopped.length > 0 ? `, ${result.agentsStopped.length} local agents stopped` : ''}`);
    return result;
  }
}
