import { isIP } from 'node:net';
import { join } from 'node:path';

import { Args, Flags } from '@oclif/core';

import { StepError, addMemberThroughAgent, loadContext, startNextLocalAgent } from '../../agent/index.js';
import { ClusterApi, type MemberAddResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { checkChangeWriteOut, jsonMemberAdd, peerUrlsOf, printMemberAdd } from '../../cli/member-output.js';
import { type EnsuredMemberCertificates, PkiMismatchError, caCertFile, ensureMemberCertificates } from '../../pki/index.js';

export type MemberAddResult = MemberAddResponse;

export default class MemberAdd extends ClientCommand<MemberAddResult> {
  static override summary = 'Adds a member into the cluster';

  static override description =
    'Adds a member with the given peer URLs, like etcdctl member add (--learner: as a non-voting learner, to promote once it has caught up). With -w simple it prints the new member\'s ID and the ETCD_NAME, ETCD_INITIAL_CLUSTER, ETCD_INITIAL_ADVERTISE_PEER_URLS and ETCD_INITIAL_CLUSTER_STATE settings to start it with; -w json prints the response (the new member and the members after the change).';

  static override usage = '<%= command.id %> <memberName> --peer-urls=<urls> [flags]';

  static override examples = [
    '<%= config.bin %> <%= command.id %> infra4 --peer-urls=http://10.0.0.4:2380',
    '<%= config.bin %> <%= command.id %> infra4 --peer-urls=http://10.0.0.4:2380 --learner',
    '<%= config.bin %> <%= command.id %> infra4 --peer-urls=https://10.0.0.4:2380 --pki ./pki --ip 10.0.0.4',
  ];

  // etcdctl answers a wrong number of arguments with its own messages and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { memberName: Args.string({ description: 'name of the new member', ignoreStdin: true }) };

  static override flags = {
    'peer-urls': Flags.string({ description: 'comma separated peer URLs for the new member.', default: '' }),
    learner: Flags.boolean({ description: 'indicates if the new member is raft learner', default: false }),
    pki: Flags.string({
      description:
        "issue the new member's server and peer certificates from this PKI directory's CA first (see kvctl cert), for --ip/--dns and every host of --peer-urls",
      env: 'KVCTL_PKI_DIR',
    }),
    ip: Flags.string({ description: 'with --pki: an IP address for the certificates (repeatable)', multiple: true, dependsOn: ['pki'] }),
    dns: Flags.string({ description: 'with --pki: a DNS name for the certificates (repeatable)', multiple: true, dependsOn: ['pki'] }),
    host: Flags.string({
      description:
        "add the member through the kvctl agent at this host[:port] (needs a context from kvctl cluster bootstrap): learner, certificates, start, promote once in sync",
      exclusive: ['peer-urls', 'pki', 'local'],
    }),
    local: Flags.boolean({ description: 'for a --local cluster: start a new local agent on the next loopback address and add the member through it', exclusive: ['peer-urls', 'pki', 'host'] }),
    token: Flags.string({ description: "with --host: the agent's bootstrap token, if it is not enrolled yet", env: 'KVCTL_AGENT_TOKEN' }),
    'client-port': Flags.integer({ description: "with --host: the member's client port (default: the other members')", min: 1, max: 65535 }),
    'peer-port': Flags.integer({ description: "with --host: the member's peer port (default: the other members')", min: 1, max: 65535 }),
    timeout: Flags.integer({ description: 'with --host: seconds to wait for the new member to catch up', default: 120, min: 1 }),
  };

  async run(): Promise<MemberAddResult> {
    const { argv, flags } = await this.parse(MemberAdd);
    const args = argv.map(String);
    if (args.length < 1) throw new CtlError('member name not provided', ExitCode.ExitBadArgs);
    if (args.length > 1) {
      // etcdctl's hint for the old `member add <name> <peerURL>` form.
      const hints = args.filter((a) => a.toLowerCase().startsWith('http')).map((a) => `, did you mean --peer-urls=${a}`);
      throw new CtlError(`too many arguments${hints.join('')}`, ExitCode.ExitBadArgs);
    }
    const name = args[0] ?? '';
    if (flags.host !== undefined || flags.local === true) return await this.addThroughAgent(name, flags);
    const peerUrls = peerUrlsOf(flags['peer-urls']);
    const w = checkChangeWriteOut(this.writeOut(flags));
    const client = await this.connect(flags);
    // Certificates first: a member whose certificates cannot be made is never added.
    const certs = flags.pki === undefined ? undefined : await this.issueCertificates(flags.pki, name, peerUrls, flags.ip ?? [], flags.dns ?? []);
    let resp: MemberAddResponse;
    try {
      resp = await new ClusterApi(client).memberAdd(peerUrls, { learner: flags.learner });
    } catch (err) {
      if (certs !== undefined) {
        this.logToStderr(`certificates for ${name} are in ${flags.pki} but the member was not added; fix the cause and run the same command again (it reuses them)`);
      }
      throw err;
    }
    this.write(printMemberAdd(w, resp, { name, peerUrls: flags['peer-urls'] }));
    if (certs !== undefined && flags.pki !== undefined) {
      const lines = tlsSettings(flags.pki, certs);
      if (w === 'simple') this.write(Buffer.from(`${lines.join('\n')}\n`));
      else this.logToStderr(`${certs.reused ? 'reused' : 'issued'} ${certs.server.certFile} and ${certs.peer.certFile}; start the member with:\n${lines.join('\n')}`);
    }
    return resp;
  }

  /** `--host` / `--local`: the whole add through the member's agent (src/agent/membership.ts). */
  private async addThroughAgent(
    name: string,
    flags: { context?: string | undefined; host?: string | undefined; local?: boolean; token?: string | undefined; 'client-port'?: number | undefined; 'peer-port'?: number | undefined; timeout: number },
  ): Promise<MemberAddResult> {
    const ctx = await loadContext(flags.context);
    if (ctx === undefined) throw new CtlError('member add --host needs a cluster context: run kvctl cluster bootstrap first, or name one with --context', ExitCode.ExitBadArgs);
    const progress = (line: string) => {
      if (!this.jsonEnabled()) this.logToStderr(line);
    };
    let address = flags.host ?? '';
    let token = flags.token;
    if (flags.local === true) {
      const local = await startNextLocalAgent(ctx, name, progress);
      address = local.address;
      token = local.token;
    }
    try {
      const result = await addMemberThroughAgent({
        ctx, name, agentAddress: address, clientPort: flags['client-port'], peerPort: flags['peer-port'], token, progress, timeoutMs: flags.timeout * 1000,
      });
      this.log(`Member ${name} (${result.member.ID.toString(16)}) added through agent ${address} and promoted: the cluster has ${result.context.endpoints.length} members.`);
      return { header: undefined, member: result.member, members: [] };
    } catch (err) {
      if (err instanceof StepError) this.logToStderr(`done: ${err.done.join('; ') || 'nothing'}\nleft: ${err.left.join('; ')}`);
      throw err;
    }
  }

  /**
   * The new member's server and peer certificates, covering --ip, --dns and the hosts of its peer URLs
   * (an IP URL needs that IP in the peer certificate, or the other members refuse it). Certificates the
   * directory already holds for this name are reused when they cover all of those (so that a member add
   * that failed, e.g. on an unhealthy cluster, can simply be run again), and refused when they do not.
   */
  private async issueCertificates(pki: string, name: string, peerUrls: readonly string[], ips: readonly string[], dns: readonly string[]): Promise<MemberTls> {
    const allIps = new Set(ips);
    const allDns = new Set(dns);
    for (const raw of peerUrls) {
      const host = new URL(raw).hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0) allIps.add(host);
      else allDns.add(host);
    }
    try {
      return await ensureMemberCertificates(pki, name, [...allIps, ...allDns]);
    } catch (err) {
      if (err instanceof PkiMismatchError) throw new CtlError(err.message.replace(/^pki: /, ''), ExitCode.ExitError, { cause: err });
      throw err;
    }
  }

  protected jsonOf(result: MemberAddResult): string {
    return jsonMemberAdd(result);
  }
}

type MemberTls = EnsuredMemberCertificates;

/** The ETCD_* settings that make the new member use its certificates (etcd's names). */
function tlsSettings(pki: string, certs: MemberTls): string[] {
  const ca = join(pki, caCertFile);
  return [
    `ETCD_CERT_FILE="${certs.server.certFile}"`,
    `ETCD_KEY_FILE="${certs.server.keyFile}"`,
    `ETCD_TRUSTED_CA_FILE="${ca}"`,
    'ETCD_CLIENT_CERT_AUTH="true"',
    `ETCD_PEER_CERT_FILE="${certs.peer.certFile}"`,
    `ETCD_PEER_KEY_FILE="${certs.peer.keyFile}"`,
    `ETCD_PEER_TRUSTED_CA_FILE="${ca}"`,
    'ETCD_PEER_CLIENT_CERT_AUTH="true"',
  ];
}
