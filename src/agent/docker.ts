/**
 * The docker runtime (`--runtime docker --image <image>`): the agent runs its member as one container of the
 * spec's image, through the Docker engine's API (dockerode on a unix socket).
 *
 * What the container runs is the image's own ENTRYPOINT/CMD, with the member's env file as its environment
 * (etcd and `kvctl node` both read ETCD_* variables): an etcd image runs `etcd`, an image holding kvctl runs
 * `node <kvctl>/bin/run.js node`. An image without either is refused before anything is created.
 *
 * The container is named `kvctl-<member>-<8 hex digits of the agent dir's SHA-256>` and labelled with the agent
 * dir, so a restarted agent finds (adopts) its own running container and never another agent's on the same
 * host. It runs with the host's network (the member's URLs are the host's addresses, as with a process),
 * docker-init as PID 1 (so SIGTERM reaches the member, whose leader then hands leadership over), as the agent's
 * own uid:gid (files in the data dir stay the agent's), and with the member's config dir (read-only) and data
 * dir bind-mounted at the same paths, so the paths in the env file hold inside the container.
 *
 * Like a process member, the container outlives its agent. Its output goes to the engine's log; the agent
 * follows that log and appends it to the member's log file. An adopting agent follows from the log file's last
 * change on, so lines written while no agent ran are not lost and lines already copied are not copied again.
 *
 * kvctl never pulls an image: a pull would reach a registry on its own, and every host must run the image the
 * operator chose. A missing image is an error that says how to put it on the host.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { Agent as HttpAgent, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type DockerModem from 'docker-modem';
import Docker from 'dockerode';

import { type Logger, noopLogger } from '../base/logger.js';
import { AgentStateError } from './errors.js';
import type { Launched, Launcher } from './launcher.js';
import type { MemberLayout, NodeSpec } from './spec.js';

export const defaultDockerSocket = '/var/run/docker.sock';

/** The label that ties a container to the agent (its directory) that runs it. */
export const agentDirLabel = 'kvctl.agent-dir';
export const memberLabel = 'kvctl.member';

/** `kvctl-<member>-<hash>`: readable in `docker ps`, unique per agent directory on a host. */
export function containerName(memberName: string, agentDir: string): string {
  return `kvctl-${memberName}-${createHash('sha256').update(agentDir).digest('hex').slice(0, 8)}`;
}

/**
 * An http agent whose sockets do not keep the process alive: the agent must be able to exit while its member's
 * container runs on (the container never depended on it), even though it waits on the container and follows
 * its log over such sockets. While the agent serves, its gRPC server keeps the process alive.
 */
class UnrefAgent extends HttpAgent {
  override createConnection(...args: Parameters<HttpAgent['createConnection']>): ReturnType<HttpAgent['createConnection']> {
    const socket = super.createConnection(...args) as Socket | undefined;
    socket?.unref();
    return socket as ReturnType<HttpAgent['createConnection']>;
  }
}

export type DockerProbe = { readonly docker: Docker; readonly version: string } | { readonly error: string };

export interface DockerProbeOptions {
  /**
   * Whether a request to the engine keeps this process alive. The agent says no: it must be able to exit while it
   * waits on its member's container (see UnrefAgent). A CLI that stops a container itself says yes: with nothing
   * else running, its last request to the engine (the container's removal) would otherwise be cut off by the
   * process's exit with that request's promise unsettled.
   */
  readonly holdsProcess: boolean;
  readonly timeoutMs?: number;
}

/** Asks the engine at `socketPath` for its version (bounded by `timeoutMs`): the docker runtime needs an answer. */
export async function probeDocker(socketPath: string, { holdsProcess, timeoutMs = 3000 }: DockerProbeOptions): Promise<DockerProbe> {
  // dockerode hands its options to docker-modem, which takes the http agent (dockerode's own types omit it).
  const options: Docker.DockerOptions & Pick<DockerModem.ConstructorOptions, 'agent'> = { socketPath, agent: holdsProcess ? new HttpAgent() : new UnrefAgent() };
  const docker = new Docker(options);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const version = await Promise.race([docker.version(), timeout]);
    return { docker, version: version.Version };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** What AgentOptions.extraLaunchers holds per runtime name. */
export type LauncherFactory = (spec: NodeSpec, layout: MemberLayout) => Launcher;

/** The `docker` entry of AgentOptions.extraLaunchers: one DockerLauncher per member spec. */
export function dockerLauncherFactory(docker: Docker, agentDir: string, logger: Logger): LauncherFactory {
  return (spec, layout) => new DockerLauncher({ docker, agentDir, memberName: spec.memberName, image: spec.image, layout, logger });
}

/** The `docker run` line that runs the same container by hand (the systemd unit's ExecStart). */
export function dockerRunCommand(spec: NodeSpec, layout: MemberLayout, agentDir: string): string {
  return [
    'docker run --rm --pull=never --network host --init',
    `--name ${containerName(spec.memberName, agentDir)}`,
    `--label ${agentDirLabel}=${agentDir} --label ${memberLabel}=${spec.memberName}`,
    `--user ${userSpec()}`,
    `--env-file ${layout.envFile}`,
    `-v ${layout.configDir}:${layout.configDir}:ro -v ${layout.dataDir}:${layout.dataDir}`,
    spec.image,
  ].join(' ');
}

function userSpec(): string {
  return `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
}

export interface DockerLauncherOptions {
  readonly docker: Docker;
  /** The agent's directory (absolute): names and labels the container. */
  readonly agentDir: string;
  readonly memberName: string;
  readonly image: string;
  readonly layout: MemberLayout;
  readonly logger?: Logger;
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** "exit code 0"; "exit code 137 (SIGKILL)" for a member killed by a signal (docker-init reports 128 + signal). */
export function describeContainerExit(code: number): string {
  if (code > 128) {
    const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name !== undefined) return `exit code ${code} (${name})`;
  }
  return `exit code ${code}`;
}

/** A unix time in seconds with nanoseconds ("1732212345.123456789"), as the engine's `since` takes it. */
function sinceOf(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

export class DockerLauncher implements Launcher {
  readonly name: string;
  private readonly logger: Logger;
  private stopFollowing: (() => void) | undefined;

  constructor(private readonly opts: DockerLauncherOptions) {
    this.name = containerName(opts.memberName, opts.agentDir);
    this.logger = opts.logger ?? noopLogger;
  }

  async launch(env: ReadonlyMap<string, string>): Promise<Launched> {
    const { docker, image, layout } = this.opts;
    for (const path of [this.opts.agentDir, layout.configDir, layout.dataDir, layout.logFile]) {
      if (!isAbsolute(path)) throw new AgentStateError(`docker runtime: ${path} is not an absolute path (start the agent with an absolute --data-dir)`);
    }
    await this.checkImage();
    await this.removeStopped();
    await mkdir(layout.dataDir, { recursive: true, mode: 0o700 });
    await mkdir(dirname(layout.logFile), { recursive: true });
    const container = await docker.createContainer({
      name: this.name,
      Image: image,
      Env: [...env].map(([k, v]) => `${k}=${v}`),
      Labels: { [agentDirLabel]: this.opts.agentDir, [memberLabel]: this.opts.memberName },
      User: userSpec(),
      Tty: false,
      HostConfig: {
        NetworkMode: 'host',
        Init: true,
        Binds: [`${layout.configDir}:${layout.configDir}:ro`, `${layout.dataDir}:${layout.dataDir}`],
      },
    });
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch(() => {});
      throw new AgentStateError(`docker runtime: container ${this.name} of image ${image} did not start: ${(err as Error).message}`);
    }
    // From the container's first line on: nothing it printed before we follow is lost.
    return await this.track(container, '0');
  }

  async adopt(): Promise<Launched | undefined> {
    const found = await this.opts.docker.listContainers({
      filters: { name: [`^/${this.name.replaceAll('.', '\\.')}$`], label: [`${agentDirLabel}=${this.opts.agentDir}`], status: ['running'] },
    });
    if (found[0] === undefined) return undefined;
    // The log file's last change is when an earlier agent last copied a line into it (see the module comment).
    const since = await stat(this.opts.layout.logFile, { bigint: true }).then(
      (s) => sinceOf(s.mtimeNs),
      () => '0',
    );
    return await this.track(this.opts.docker.getContainer(found[0].Id), since);
  }

  async forget(): Promise<void> {
    this.stopFollowing?.();
    try {
      await this.opts.docker.getContainer(this.name).remove({ v: true });
    } catch (err) {
      // 404: already gone; 409: running again or being removed, which is not ours to undo.
      if (statusCode(err) !== 404) this.logger.warn(`docker runtime: could not remove container ${this.name}: ${(err as Error).message}`);
    }
  }

  private async checkImage(): Promise<void> {
    const { docker, image } = this.opts;
    let info: Docker.ImageInspectInfo;
    try {
      info = await docker.getImage(image).inspect();
    } catch (err) {
      if (statusCode(err) === 404) {
        throw new AgentStateError(
          `docker runtime: image ${image} is not on this host, and kvctl never pulls images: put it there first (docker load -i <image.tar>, or docker import <rootfs.tar> ${image})`,
        );
      }
      throw new AgentStateError(`docker runtime: could not inspect image ${image}: ${(err as Error).message}`);
    }
    const entrypoint = info.Config.Entrypoint ?? [];
    const cmd = info.Config.Cmd ?? [];
    if ((Array.isArray(entrypoint) ? entrypoint : [entrypoint]).length === 0 && cmd.length === 0) {
      throw new AgentStateError(
        `docker runtime: image ${image} has neither ENTRYPOINT nor CMD: the container runs the image's own command, which must run etcd or kvctl node (e.g. docker import -c 'CMD ["etcd"]')`,
      );
    }
  }

  /** An earlier container of the same name (stopped: the supervisor launches only when none runs) is removed. */
  private async removeStopped(): Promise<void> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.opts.docker.getContainer(this.name).inspect();
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw err;
    }
    if (info.Config.Labels[agentDirLabel] !== this.opts.agentDir) {
      throw new AgentStateError(`docker runtime: a container named ${this.name} exists and is not this agent's (no label ${agentDirLabel}=${this.opts.agentDir}): remove or rename it`);
    }
    if (info.State.Running) {
      throw new AgentStateError(`docker runtime: container ${this.name} already runs, started outside this agent's supervision: stop it (docker stop ${this.name}) and start the member again`);
    }
    await this.opts.docker
      .getContainer(this.name)
      .remove({ v: true })
      .catch((err: unknown) => {
        // 404/409: forget() of the previous run (a restart) is removing it already.
        if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err;
      });
    // The name is free only once that removal is done; a bounded wait (a removal takes milliseconds).
    for (let i = 0; i < 50; i++) {
      try {
        await this.opts.docker.getContainer(this.name).inspect();
      } catch (err) {
        if (statusCode(err) === 404) return;
        throw err;
      }
      await sleep(100);
    }
    throw new AgentStateError(`docker runtime: the old container ${this.name} is still there 5 s after its removal was asked for`);
  }

  private async track(container: Docker.Container, since: string): Promise<Launched> {
    const info = await container.inspect();
    const logs = await this.followLogs(container, since);
    const ended = (async () => {
      const how = await this.waitEnd(container);
      // Let the last lines reach the log file first (the log stream ends with the container), but not forever.
      await Promise.race([logs.done, sleep(2000, undefined, { ref: false })]);
      return how;
    })();
    return {
      pid: info.State.Pid,
      ended,
      signal: (signal) => {
        container.kill({ signal }).catch((err: unknown) => {
          if (statusCode(err) !== 404 && statusCode(err) !== 409) this.logger.warn(`docker runtime: could not send ${signal} to container ${this.name}: ${(err as Error).message}`);
        });
      },
    };
  }

  /** Appends the container's stdout and stderr (from `since`) to the member's log file until the container ends. */
  private async followLogs(container: Docker.Container, since: string): Promise<{ done: Promise<void> }> {
    const logFile = this.opts.layout.logFile;
    await mkdir(dirname(logFile), { recursive: true });
    let stream: IncomingMessage;
    try {
      stream = (await container.logs({ follow: true, stdout: true, stderr: true, since })) as IncomingMessage;
    } catch (err) {
      this.logger.warn(`docker runtime: cannot follow the log of container ${this.name}: ${(err as Error).message}`);
      return { done: Promise.resolve() };
    }
    const out = createWriteStream(logFile, { flags: 'a', mode: 0o640 });
    this.opts.docker.modem.demuxStream(stream, out, out);
    this.stopFollowing = () => stream.destroy();
    // Wrapped: an async function returning a bare promise would wait for it (for the container's end).
    const done = new Promise<void>((resolve) => {
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        out.end(() => resolve());
      };
      stream.once('end', close);
      stream.once('close', close);
      stream.once('error', (err) => {
        this.logger.warn(`docker runtime: following the log of container ${this.name} stopped: ${err.message}`);
        close();
      });
    });
    return { done };
  }

  /** How the container ended. When the engine's wait fails (its connection broke), polls its state instead. */
  private async waitEnd(container: Docker.Container): Promise<string> {
    try {
      const result = (await container.wait()) as { StatusCode: number };
      return describeContainerExit(result.StatusCode);
    } catch (err) {
      this.logger.warn(`docker runtime: waiting on container ${this.name} failed (${(err as Error).message}); polling its state`);
    }
    for (;;) {
      let info: Docker.ContainerInspectInfo;
      try {
        info = await container.inspect();
      } catch (err) {
        if (statusCode(err) === 404) return 'container removed';
        return `ended: the Docker engine does not answer (${(err as Error).message})`;
      }
      if (!info.State.Running) return describeContainerExit(info.State.ExitCode);
      await sleep(1000, undefined, { ref: false });
    }
  }
}
