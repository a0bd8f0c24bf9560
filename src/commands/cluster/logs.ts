import { Args, Flags } from '@oclif/core';

import { PlanError, contextAgents, loadContext } from '../../agent/index.js';
import { BaseCommand } from '../../cli/base-command.js';

export default class ClusterLogs extends BaseCommand<{ bytes: number }> {
  static override summary = "Prints a member's log, as its agent keeps it (-f: and follows it).";

  static override examples = ['<%= config.bin %> <%= command.id %> m2', '<%= config.bin %> <%= command.id %> m2 --tail 200 -f'];

  static override args = { member: Args.string({ description: 'member name', required: true }) };

  static override flags = {
    context: Flags.string({ description: 'the cluster context (default: the current one)', env: 'KVCTL_CONTEXT' }),
    tail: Flags.integer({ description: 'lines from the end to print first', default: 50, min: 0 }),
    follow: Flags.boolean({ char: 'f', description: 'keep printing new lines until interrupted', default: false }),
  };

  async run(): Promise<{ bytes: number }> {
    const { args, flags } = await this.parse(ClusterLogs);
    const ctx = await loadContext(flags.context);
    if (ctx === undefined) throw new PlanError('no current cluster context (kvctl cluster bootstrap saves one; --context names another)');
    const agents = await contextAgents(ctx);
    const conn = agents.get(args.member);
    for (const [name, c] of agents) if (name !== args.member) c.close();
    if (conn === undefined) throw new PlanError(`cluster ${ctx.name} has no member ${args.member} with an agent (members: ${[...agents.keys()].join(', ')})`);
    const { chunks, stop } = conn.logs(flags.tail, flags.follow);
    process.once('SIGINT', stop);
    let bytes = 0;
    try {
      for await (const chunk of chunks) {
        bytes += chunk.length;
        process.stdout.write(chunk);
      }
    } finally {
      conn.close();
    }
    return { bytes };
  }
}
