import { Flags } from '@oclif/core';

import { BaseCommand } from '../../cli/base-command.js';
import { type NewDiscoveryResult, createDiscoveryToken, defaultEndpoint, loadTlsFiles, parseEndpoints } from '../../client/index.js';

export default class DiscoveryNew extends BaseCommand<NewDiscoveryResult> {
  static override summary = 'Creates a discovery token for bootstrapping a new cluster with --discovery.';

  static override description = `Creates a fresh etcd v2 discovery token on a running cluster (a kvctl node, or etcd 3.4 \
started with --enable-v2): the directory /_etcd/registry/<token> with the expected size at _config/size, written only \
if the token does not exist yet. Prints the discovery URL on stdout (and how to use it on stderr). Start every member \
of the new cluster with --discovery <url> (or ETCD_DISCOVERY): each registers itself, waits until --size members \
have, and bootstraps the first --size of them; a member beyond that is refused ("discovery: cluster is full"). A \
token bootstraps one cluster: make a new one for every cluster, and for a failed attempt.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --size 3 --endpoints 10.0.0.9:2379',
    'URL=$(<%= config.bin %> <%= command.id %> --size 3) && <%= config.bin %> node --name m1 --discovery "$URL" ...',
  ];

  static override flags = {
    size: Flags.integer({ description: 'number of members of the new cluster', required: true, min: 1 }),
    token: Flags.string({ description: 'token name (default: 32 random hex characters)' }),
    endpoints: Flags.string({
      description: 'endpoints of the cluster that keeps the token, comma separated (host:port or http(s)://host:port); the first that answers is used',
      default: defaultEndpoint,
      env: 'ETCDCTL_ENDPOINTS',
    }),
    cacert: Flags.string({ description: 'verify https endpoints with this CA bundle', env: 'ETCDCTL_CACERT' }),
    cert: Flags.string({ description: 'client certificate for https endpoints', env: 'ETCDCTL_CERT' }),
    key: Flags.string({ description: 'client key for https endpoints', env: 'ETCDCTL_KEY' }),
    'insecure-skip-tls-verify': Flags.boolean({ description: 'do not verify the server certificate', default: false, env: 'ETCDCTL_INSECURE_SKIP_TLS_VERIFY' }),
  };

  async run(): Promise<NewDiscoveryResult> {
    const { flags } = await this.parse(DiscoveryNew);
    const tls = loadTlsFiles({ cacert: flags.cacert, cert: flags.cert, key: flags.key, insecureSkipVerify: flags['insecure-skip-tls-verify'] });
    const result = await createDiscoveryToken({
      endpoints: parseEndpoints(flags.endpoints),
      size: flags.size,
      ...(flags.token !== undefined ? { token: flags.token } : {}),
      ...(tls !== undefined ? { tls } : {}),
    });
    this.log(result.url);
    if (!this.jsonEnabled()) {
      this.logToStderr(`Discovery token ${result.token} for ${result.size} member(s) created on ${result.endpoint}. Start each member with:`);
      this.logToStderr(`  kvctl node --name <name> --discovery ${result.url} --initial-advertise-peer-urls <peer url> ...`);
      this.logToStderr('  (or ETCD_DISCOVERY=<url>; etcd members take the same flag). Use a new token for every cluster.');
    }
    return result;
  }
}
