import { readFile } from 'node:fs/promises';

import { Flags } from '@oclif/core';

import {
  type BootstrapMode,
  type BootstrapResult,
  type ClusterPlan,
  type MemberPlan,
  PlanError,
  StepError,
  bootstrapCluster,
  clientOf,
  localClusterDir,
  localMembers,
  newToken,
  parseMemberArg,
  dryRunToken,
  renderPlan,
} from '../../agent/index.js';
import { BaseCommand } from '../../cli/base-command.js';
import { printMemberList } from '../../cli/member-output.js';

type Result = { dryRun: true; plan: string } | (BootstrapResult & { dryRun: false });

/** A cluster file: `{"name": "prod", "members": [{"name": "infra0", "host": "10.0.0.1", "clientPort": 2379, ...}]}`. */
async function membersFromFile(path: string, ports: { client: number; peer: number; agent: number }): Promise<{ name?: string; members: MemberPlan[] }> {
  let parsed: { name?: unknown; members?: unknown };
  try {
    parsed = JSON.parse(await readFile(path, 'utf8')) as typeof parsed;
  } catch (err) {
    throw new PlanError(`--file ${path}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed.members)) throw new PlanError(`--file ${path}: expected {"members": [{"name": ..., "host": ...}, ...]}`);
  const members = (parsed.members as Record<string, unknown>[]).map((m, i) => {
    if (typeof m.name !== 'string' || typeof m.host !== 'string') throw new PlanError(`--file ${path}: member ${i + 1} needs a "name" and a "host"`);
    const num = (v: unknown, d: number, what: string) => {
      if (v === undefined) return d;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw new PlanError(`--file ${path}: member ${m.name as string}: ${what} is not a port number`);
      return v;
    };
    return { name: m.name, host: m.host, clientPort: num(m.clientPort, ports.client, 'clientPort'), peerPort: num(m.peerPort, ports.peer, 'peerPort'), agentPort: num(m.agentPort, ports.agent, 'agentPort') };
  });
  return { ...(typeof parsed.name === 'string' ? { name: parsed.name } : {}), members };
}

function parseSettings(sets: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new PlanError(`--set ${JSON.stringify(s)}: expected NAME=value (an etcd setting, e.g. HEARTBEAT_INTERVAL=100)`);
    out[s.slice(0, eq).replace(/^ETCD_/, '').replaceAll('-', '_').toUpperCase()] = s.slice(eq + 1);
  }
  return out;
}

export default class ClusterBootstrap extends BaseCommand<Result> {
  static override summary = 'Builds a cluster through the agents of its hosts: certificates, configuration, start, health, context.';

  static override description = `Exactly one of --static (members from --member, --file or --local), --discovery \
<url> (etcd's discovery protocol) or --dns-srv <domain> (etcd's SRV records). The CLI issues a CA and every member's \
certificates (unless --no-tls), enrolls each agent with its bootstrap token (--token / KVCTL_AGENT_TOKEN), pushes each \
member's configuration, starts all members, waits until every one is healthy, prints the member table and saves a \
context (endpoints + client certificate) so that later commands need no flags. --local N starts N agents on this host \
(127.0.0.1..N) first. Every step can be run again after a failure.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --static --local 3',
    '<%= config.bin %> <%= command.id %> --static --name prod --member infra0=10.0.0.1 --member infra1=10.0.0.2 --member infra2=10.0.0.3 --token $TOKEN',
    '<%= config.bin %> <%= command.id %> --static --local 3 --runtime etcd',
    '<%= config.bin %> <%= command.id %> --static --local 3 --dry-run',
  ];

  static override flags = {
    static: Flags.boolean({ description: 'members and their URLs from --member, --file or --local', exactlyOne: ['static', 'discovery', 'dns-srv'] }),
    discovery: Flags.string({ description: "bootstrap through etcd's discovery protocol at this URL (see kvctl discovery new)" }),
    'dns-srv': Flags.string({ description: "bootstrap from the domain's SRV records (_etcd-server-ssl._tcp / _etcd-server._tcp)" }),
    'dns-srv-name': Flags.string({ description: 'suffix of the SRV service names (etcd --discovery-srv-name)', default: '' }),
    'dns-server': Flags.string({ description: 'host:port of the DNS server the members ask (kvctl runtime; default: the system resolver)', env: 'KVCTL_DNS_SERVER', default: '' }),
    member: Flags.string({ description: 'a member: name=host[:client-port[:peer-port[:agent-port]]] (repeatable)', multiple: true, default: [] }),
    file: Flags.string({ description: 'a JSON cluster file: {"name": ..., "members": [{"name", "host", "clientPort", "peerPort", "agentPort"}]}' }),
    local: Flags.integer({ description: 'start N agents on this host, members m1..mN on 127.0.0.1..N', min: 1, max: 9 }),
    name: Flags.string({ description: 'the cluster (and context) name', default: 'default' }),
    token: Flags.string({ description: "the agents' bootstrap token (generated for --local)", env: 'KVCTL_AGENT_TOKEN' }),
    runtime: Flags.option({ description: 'what runs each member: kvctl\'s node, a real etcd binary, or a docker container', options: ['kvctl', 'etcd', 'docker'] as const, default: 'kvctl' as const })(),
    image: Flags.string({ description: 'the image for --runtime docker (never pulled: it must be on every host)', default: '' }),
    tls: Flags.boolean({ description: 'TLS on client and peer URLs with a kvctl CA (--no-tls: plain http)', default: true, allowNo: true }),
    'client-port': Flags.integer({ description: 'default client port', default: 2379, min: 1, max: 65535 }),
    'peer-port': Flags.integer({ description: 'default peer port', default: 2380, min: 1, max: 65535 }),
    'agent-port': Flags.integer({ description: 'default agent port', default: 2390, min: 1, max: 65535 }),
    set: Flags.string({ description: 'another etcd setting for every member, NAME=value (e.g. HEARTBEAT_INTERVAL=100; repeatable)', multiple: true, default: [] }),
    timeout: Flags.integer({ description: 'seconds to wait for the cluster to become healthy', default: 90, min: 1 }),
    'dry-run': Flags.boolean({ description: 'print the plan and the files each agent would write; change nothing', default: false }),
  };

  async run(): Promise<Result> {
    const { flags } = await this.parse(ClusterBootstrap);
    const ports = { client: flags['client-port'], peer: flags['peer-port'], agent: flags['agent-port'] };
    let members: MemberPlan[] = flags.member.map((m) => parseMemberArg(m, ports));
    let name = flags.name;
    if (flags.file !== undefined) {
      const fromFile = await membersFromFile(flags.file, ports);
      members = [...members, ...fromFile.members];
      if (fromFile.name !== undefined && flags.name === 'default') name = fromFile.name;
    }
    if (flags.local !== undefined) {
      if (members.length > 0) throw new PlanError('--local starts its own members: give either --local or --member/--file');
      members = localMembers(flags.local, ports);
    }
    const mode: BootstrapMode =
      flags.discovery !== undefined
        ? { kind: 'discovery', url: flags.discovery }
        : flags['dns-srv'] !== undefined
          ? { kind: 'dns-srv', domain: flags['dns-srv'], serviceName: flags['dns-srv-name'], dnsServer: flags['dns-server'] }
          : { kind: 'static' };
    const plan: ClusterPlan = {
      clusterName: name,
      tls: flags.tls,
      runtime: flags.runtime,
      image: flags.image,
      mode,
      members,
      settings: parseSettings(flags.set),
    };
    if (flags['dry-run']) {
      const text = renderPlan(plan, await dryRunToken(name));
      this.log(text);
      return { dryRun: true, plan: text };
    }
    const localDir = flags.local !== undefined ? localClusterDir(name) : undefined;
    const token = flags.token ?? (localDir !== undefined ? newToken() : undefined);
    if (token === undefined) {
      this.logToStderr('no --token given: only agents already enrolled in this cluster can be used (set KVCTL_AGENT_TOKEN to the token the agents were started with)');
    }
    const progress = (line: string) => {
      if (!this.jsonEnabled()) this.logToStderr(line);
    };
    let result: BootstrapResult;
    try {
      result = await bootstrapCluster({ plan, token, localDir, progress, timeoutMs: flags.timeout * 1000 });
    } catch (err) {
      if (err instanceof StepError) {
        this.logToStderr(`done: ${err.done.join('; ') || 'nothing'}`);
        this.logToStderr(`left: ${err.left.join('; ')}`);
        this.logToStderr('Fix the cause and run the same command again: finished steps are kept and reused.');
      }
      throw err;
    }
    if (!this.jsonEnabled()) {
      const tls = result.context.tls;
      const client = await clientOf(result.context);
      try {
        process.stdout.write(printMemberList('table', await client.memberList()));
      } finally {
        client.close();
      }
      this.log(`Cluster ${name} is healthy. Context saved in ${result.contextFile} and made current:`);
      this.log('  kvctl member list -w table; kvctl endpoint status -w table; kvctl cluster status');
      if (tls !== undefined) this.log(`  etcdctl --endpoints ${result.context.endpoints.join(',')} --cacert ${tls.ca} --cert ${tls.cert} --key ${tls.key} member list`);
      if (localDir !== undefined) this.log(`Local agents and data under ${localDir}; stop with kvctl cluster down (--purge deletes the data), start again with kvctl cluster up.`);
    }
    return { ...result, dryRun: false };
  }
}
