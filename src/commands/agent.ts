import { hostname } from 'node:os';
import { resolve } from 'node:path';

import { Flags } from '@oclif/core';

import { AgentDaemon, type LauncherFactory, agentToken, defaultDockerSocket, dockerLauncherFactory, kvctlCommand, kvctlVersion, probeDocker } from '../agent/index.js';
import { type LogLevel, levelLogger } from '../base/logger.js';
import { BaseCommand } from '../cli/base-command.js';

/** How often an agent without a Docker engine asks again. */
const dockerRetryMs = 10_000;

export default class Agent extends BaseCommand<{ stopped: boolean }> {
  static override summary = "Runs this host's kvctl agent: the daemon that owns the host's etcd member.";

  static override description = `The agent serves kvctl's agent API (gRPC, TLS) on --listen. Until it is enrolled (by \
kvctl cluster bootstrap or kvctl member add --host) it takes only callers that hold its bootstrap token: --token, \
KVCTL_AGENT_TOKEN, --token-file, or else a token generated into <data-dir>/bootstrap-token. Once enrolled it serves \
mutual TLS with the cluster's CA. The member it runs keeps serving when the agent stops or restarts; the next agent \
adopts it. The docker runtime is offered once a Docker engine answers on --docker-socket (asked at start, then every 10 s until it answers).`;

  static override examples = [
    'KVCTL_AGENT_TOKEN=... <%= config.bin %> <%= command.id %> --name infra0 --listen 10.0.0.1:2390',
    '<%= config.bin %> <%= command.id %> --data-dir /var/lib/kvctl-agent --etcd-binary /usr/bin/etcd',
  ];

  static override flags = {
    name: Flags.string({ description: 'agent name (default: the host name)', env: 'KVCTL_AGENT_NAME' }),
    listen: Flags.string({ description: 'host:port of the agent API', default: '0.0.0.0:2390', env: 'KVCTL_AGENT_LISTEN' }),
    'data-dir': Flags.string({ description: "the agent's directory: its state, the member's config, certificates, data and log", default: '/var/lib/kvctl-agent', env: 'KVCTL_AGENT_DATA_DIR' }),
    token: Flags.string({ description: 'bootstrap token for first contact', env: 'KVCTL_AGENT_TOKEN' }),
    'token-file': Flags.string({ description: 'file holding the bootstrap token', env: 'KVCTL_AGENT_TOKEN_FILE' }),
    'etcd-binary': Flags.string({ description: 'the etcd binary for the etcd runtime', default: 'etcd', env: 'KVCTL_ETCD_BINARY' }),
    'docker-socket': Flags.string({ description: "the Docker engine's socket for the docker runtime (offered once the engine answers; asked again every 10 s until it does)", default: defaultDockerSocket, env: 'KVCTL_DOCKER_SOCKET' }),
    'log-level': Flags.option({ description: 'log level', options: ['debug', 'info', 'warn', 'error'] as const, default: 'info' as const })(),
  };

  async run(): Promise<{ stopped: boolean }> {
    const { flags } = await this.parse(Agent);
    const name = flags.name ?? hostname();
    const logger = levelLogger(flags['log-level'] as LogLevel, (level, message) => {
      process.stderr.write(`${new Date().toISOString()}\t${level.toUpperCase()}\tagent ${name}: ${message}\n`);
    });
    const { token, source } = await agentToken({ token: flags.token, file: flags['token-file'], agentDir: flags['data-dir'] });
    logger.info(`bootstrap token ${source}`);
    if (token.length < 16) this.error('the bootstrap token is too short: use at least 16 characters (kvctl agent generates one when none is given)', { exit: 2 });
    // Absolute: the member's files are named by path in its env file, the pid identity and container mounts.
    const dir = resolve(flags['data-dir']);
    // The daemon reads this map on every use: the docker runtime appears when an engine starts answering later.
    const extraLaunchers = new Map<string, LauncherFactory>();
    const docker = await probeDocker(flags['docker-socket'], { holdsProcess: false });
    if ('docker' in docker) {
      extraLaunchers.set('docker', dockerLauncherFactory(docker.docker, dir, logger));
      logger.info(`docker runtime available: Docker engine ${docker.version} at ${flags['docker-socket']}`);
    } else {
      logger.info(`docker runtime not available (yet): no Docker engine answers at ${flags['docker-socket']} (${docker.error}); asking again every ${dockerRetryMs / 1000} s`);
    }
    const daemon = await AgentDaemon.start({
      name,
      listen: flags.listen,
      dir,
      extraLaunchers,
      token,
      version: kvctlVersion,
      kvctlCommand: kvctlCommand('node'),
      etcdBinary: flags['etcd-binary'],
      logger,
    });
    let retry: NodeJS.Timeout | undefined;
    if (!extraLaunchers.has('docker')) {
      retry = setInterval(() => {
        void probeDocker(flags['docker-socket'], { holdsProcess: false }).then(async (late) => {
          if (!('docker' in late) || extraLaunchers.has('docker')) return;
          clearInterval(retry);
          extraLaunchers.set('docker', dockerLauncherFactory(late.docker, dir, logger));
          logger.info(`docker runtime available now: Docker engine ${late.version} at ${flags['docker-socket']}`);
          // A docker member that should run and could not at start runs now.
          await daemon.resume();
        });
      }, dockerRetryMs);
    }
    await new Promise<void>((resolve) => {
      const onSignal = (sig: NodeJS.Signals) => {
        logger.info(`received ${sig}: stopping the agent; the member keeps serving`);
        clearInterval(retry);
        void daemon.close().then(resolve);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    return { stopped: true };
  }
}
