import { Flags } from '@oclif/core';

import { type AgentStatus, PlanError, clusterUp, loadContext } from '../../agent/index.js';
import { BaseCommand } from '../../cli/base-command.js';

export default class ClusterUp extends BaseCommand<AgentStatus[]> {
  static override summary = 'Starts a stopped cluster again through its agents (the counterpart of cluster down).';

  static override description = `Starts every member the context knows (members added or removed since the bootstrap \
included) from its data, and for a --local cluster its local agents first; waits until every member is healthy.`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --context prod'];

  static override flags = {
    context: Flags.string({ description: 'the cluster context (default: the current one)', env: 'KVCTL_CONTEXT' }),
    timeout: Flags.integer({ description: 'seconds to wait for the cluster to become healthy', default: 90, min: 1 }),
  };

  async run(): Promise<AgentStatus[]> {
    const { flags } = await this.parse(ClusterUp);
    const ctx = await loadContext(flags.context);
    if (ctx === undefined) throw new PlanError('no current cluster context: kvctl cluster bootstrap makes one (--context names another)');
    const members = await clusterUp(ctx, (line) => {
      if (!this.jsonEnabled()) this.logToStderr(line);
    }, flags.timeout * 1000);
    this.log(`cluster ${ctx.name}: ${members.length} members healthy`);
    return members;
  }
}
