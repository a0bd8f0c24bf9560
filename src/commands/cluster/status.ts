import { Flags } from '@oclif/core';

import { type MemberStatusRow, PlanError, clusterStatus, loadContext } from '../../agent/index.js';
import { BaseCommand } from '../../cli/base-command.js';
import { renderTable } from '../../cli/table.js';

function size(bytes: string): string {
  if (bytes === '') return '';
  const n = Number(bytes);
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.round(n / 1024)} kB`;
}

export default class ClusterStatus extends BaseCommand<MemberStatusRow[]> {
  static override summary = 'Agents, members, leader and health of the current cluster, in one table.';

  static override description = `Asks every agent of the context for its member's state (process, restarts, health) \
and every member for its raft status. Exits with 1 when any agent or member does not answer or is unhealthy.`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  static override flags = {
    context: Flags.string({ description: 'the cluster context (default: the current one)', env: 'KVCTL_CONTEXT' }),
  };

  async run(): Promise<MemberStatusRow[]> {
    const { flags } = await this.parse(ClusterStatus);
    const ctx = await loadContext(flags.context);
    if (ctx === undefined) throw new PlanError('no current cluster context (kvctl cluster bootstrap saves one; --context names another)');
    const rows = await clusterStatus(ctx);
    const table = renderTable(
      rows.map((r) => [
        r.member,
        r.agent,
        r.agentState === 'ok' ? 'up' : 'DOWN',
        `${r.node}${r.pid > 0 ? ` (pid ${r.pid})` : ''}`,
        r.runtime,
        String(r.restarts),
        r.health === 'true' ? 'healthy' : r.health === '' ? '-' : `UNHEALTHY: ${r.health}`,
        r.isLeader ? 'leader' : r.isLearner ? 'learner' : r.raftTerm !== '' ? 'follower' : '-',
        r.raftTerm,
        r.raftIndex,
        size(r.dbSize),
        r.errors.join('; '),
      ]),
      ['MEMBER', 'AGENT', 'AGENT STATE', 'NODE', 'RUNTIME', 'RESTARTS', 'HEALTH', 'ROLE', 'TERM', 'INDEX', 'DB SIZE', 'ERRORS'],
    );
    if (!this.jsonEnabled()) {
      this.log(`cluster ${ctx.name} (context ${ctx.name}, ${ctx.endpoints.length} endpoints)`);
      process.stdout.write(`${table}\n`);
    }
    const bad = rows.filter((r) => r.agentState !== 'ok' || r.health !== 'true');
    if (bad.length > 0) {
      if (this.jsonEnabled()) this.logJson(rows);
      else this.logToStderr(`${bad.length} of ${rows.length} members need attention: ${bad.map((r) => r.member).join(', ')} (kvctl agent logs are in each agent's directory)`);
      this.exit(1);
    }
    return rows;
  }
}
