/**
 * `kvctl agent`: the daemon on every host. It owns that host's member: renders its configuration from
 * templates/, installs its certificates, runs it (Supervisor + a Launcher per runtime), reports its state and
 * health, wipes it, and streams its log, all through the API in proto/kvctl/agent/v1/agent.proto.
 *
 * Trust (see trust.ts): before enrollment the agent serves TLS with a self-signed certificate and takes Enroll
 * only with the bootstrap token; Enroll installs the cluster's CA and the agent's certificate, and the agent
 * then serves mutual TLS (clients need a certificate from that CA) and no longer takes the token.
 *
 * When the agent stops (SIGTERM, a crash, an upgrade) its member keeps serving; the next agent adopts it.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';

import type { Logger } from '../base/logger.js';
import { findOnPath } from '../base/node-fs.js';
import { certFileMode, ensureDir, ensureSelfSignedPair, keyFileMode, replaceFile } from '../pki/index.js';
import {
  type AgentServer,
  AgentService,
  type AgentStatus,
  type DataChunk,
  type EnrollRequest,
  type HelloResponse,
  type LogChunk,
  type NodeSpec,
  type RestoreChunk,
} from '../proto/gen/kvctl/agent/v1/agent.js';
import { exportDataDir, importDataDir, incomingDir } from './data-transfer.js';
import { dockerRunCommand } from './docker.js';
import { AgentAuthError, AgentInputError, AgentStateError } from './errors.js';
import { probeHealth } from './health.js';
import { type Launcher, ProcessLauncher, memberIdentity } from './launcher.js';
import { readLog, tailOffset } from './logs.js';
import { parseEnvFile, renderTemplate } from './render.js';
import { beforeRestoreDir, etcdRestoreTools, restoreMemberData, restoreWorkDir, restoredDir } from './restore-data.js';
import { type MemberLayout, checkSpec, envValues, memberLayout, memberPkiFiles, sameSpec } from './spec.js';
import { type AgentState, loadState, saveState } from './state.js';
import { Supervisor } from './supervisor.js';
import { sameSecret, tokenMetadataKey, tokenProof } from './trust.js';
import { toServiceError } from './wire-errors.js';

export interface AgentOptions {
  readonly name: string;
  /** host:port of the agent's API. */
  readonly listen: string;
  readonly dir: string;
  readonly token: string;
  readonly version: string;
  /** How to run kvctl's own node: [file, ...args] (process.execPath + bin/run.js + 'node'). */
  readonly kvctlCommand: readonly string[];
  /** The etcd binary (a name looked up on PATH, or a path). */
  readonly etcdBinary: string;
  readonly logger: Logger;
  /** Extra launchers by runtime name (the docker runtime plugs in here). */
  /** Read on every use: a runtime may appear later (a Docker engine that starts after the agent). */
  readonly extraLaunchers?: ReadonlyMap<string, (spec: NodeSpec, layout: MemberLayout) => Launcher>;
  readonly stopTimeoutMs?: number;
}

function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (m === null) throw new AgentInputError(`--listen ${JSON.stringify(listen)}: expected host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new AgentInputError(`--listen ${listen}: port out of range`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export class AgentDaemon {
  private server: grpc.Server | undefined;
  private state: AgentState;
  private supervisor: Supervisor | undefined;
  private readonly layout: MemberLayout;
  private readonly tlsDir: string;
  private selfSignedDer: Buffer = Buffer.alloc(0);
  private boundPort = 0;
  private closed = false;
  /** A long operation on the data dir in progress ("importing data"): the member may not start meanwhile. */
  private busy: string | undefined;

  private constructor(
    private readonly opts: AgentOptions,
    state: AgentState,
  ) {
    this.state = state;
    this.layout = memberLayout(opts.dir);
    this.tlsDir = join(opts.dir, 'tls');
  }

  static async start(opts: AgentOptions): Promise<AgentDaemon> {
    await ensureDir(opts.dir);
    const daemon = new AgentDaemon(opts, await loadState(opts.dir));
    await daemon.listen();
    await daemon.resume();
    return daemon;
  }

  get port(): number {
    return this.boundPort;
  }

  /** The runtimes this host can run. */
  runtimes(): string[] {
    const found = ['kvctl'];
    if (findOnPath(this.opts.etcdBinary) !== undefined) found.push('etcd');
    for (const name of this.opts.extraLaunchers?.keys() ?? []) found.push(name);
    return found;
  }

  /** Stops serving the API; the member keeps running (see the module comment). */
  async close(): Promise<void> {
    this.closed = true;
    this.supervisor?.detach();
    await this.shutdownServer();
  }

  private async shutdownServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async credentials(): Promise<grpc.ServerCredentials> {
    if (this.state.enrolled) {
      const [ca, cert, key] = await Promise.all(['ca.crt', 'agent.crt', 'agent.key'].map((f) => readFile(join(this.tlsDir, f))));
      return grpc.ServerCredentials.createSsl(ca as Buffer, [{ cert_chain: cert as Buffer, private_key: key as Buffer }], true);
    }
    const { host } = splitHostPort(this.opts.listen);
    const pair = await ensureSelfSignedPair(join(this.tlsDir, 'bootstrap'), { hosts: [host === '0.0.0.0' || host === '::' ? 'localhost' : host, 'localhost'] });
    const cert = await readFile(pair.certFile);
    this.selfSignedDer = Buffer.from(new X509Certificate(cert).raw);
    return grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: await readFile(pair.keyFile) }], false);
  }

  private async listen(): Promise<void> {
    const creds = await this.credentials();
    const server = new grpc.Server();
    server.addService(AgentService, this.handlers());
    const { host, port } = splitHostPort(this.opts.listen);
    const address = host.includes(':') ? `[${host}]:${this.boundPort || port}` : `${host}:${this.boundPort || port}`;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, creds, (err, p) => (err !== null ? reject(err) : resolve(p)));
    });
    this.server = server;
    this.opts.logger.info(`agent ${this.opts.name} listening on ${host}:${this.boundPort} (${this.state.enrolled ? `mutual TLS, cluster ${this.state.clusterName}` : 'not enrolled: bootstrap token and self-signed TLS'})`);
  }

  private launcherFor(spec: NodeSpec): Launcher {
    const extra = this.opts.extraLaunchers?.get(spec.runtime);
    if (extra !== undefined) return extra(spec, this.layout);
    // Never a process in place of a runtime this agent lacks (docker without an engine that answered at start).
    if (spec.runtime !== 'kvctl' && spec.runtime !== 'etcd') throw new AgentStateError(`agent ${this.opts.name}: the ${spec.runtime} runtime is not available (it runs: ${this.runtimes().join(', ')})`);
    const [file, ...args] = spec.runtime === 'etcd' ? [findOnPath(this.opts.etcdBinary) ?? this.opts.etcdBinary] : this.opts.kvctlCommand;
    if (file === undefined) throw new AgentStateError('agent: no command to run the member with');
    return new ProcessLauncher({ file, args, identity: memberIdentity(this.opts.dir), logFile: this.layout.logFile, pidFile: this.layout.pidFile });
  }

  private supervisorFor(spec: NodeSpec): Supervisor {
    this.supervisor ??= new Supervisor({
      launcher: this.launcherFor(spec),
      environment: async () => parseEnvFile(await readFile(this.layout.envFile, 'utf8')),
      logger: this.opts.logger,
      ...(this.opts.stopTimeoutMs !== undefined ? { stopTimeoutMs: this.opts.stopTimeoutMs } : {}),
    });
    return this.supervisor;
  }

  /**
   * At agent start (and when a runtime appears later): adopt the member an earlier agent left running, or start
   * it if it should run and does not.
   */
  async resume(): Promise<void> {
    const spec = this.state.spec;
    if (spec === undefined || this.closed) return;
    if (this.supervisor !== undefined && this.supervisor.status().state !== 'stopped') return;
    try {
      const supervisor = this.supervisorFor(spec);
      if (await supervisor.adopt()) return;
      if (this.state.wantRunning) {
        this.opts.logger.info(`member ${spec.memberName} should run and does not: starting it`);
        await supervisor.start().catch((err: unknown) => this.opts.logger.error(`could not start member ${spec.memberName}: ${(err as Error).message}`));
      }
    } catch (err) {
      // The agent still serves (status, logs, reconfiguration) when its member's runtime is not there.
      this.opts.logger.error(`could not resume member ${spec.memberName}: ${(err as Error).message}`);
    }
  }

  private async setState(next: Partial<AgentState>): Promise<void> {
    this.state = { ...this.state, ...next };
    await saveState(this.opts.dir, this.state);
  }

  private requireEnrolled(): void {
    if (!this.state.enrolled) {
      throw new AgentStateError(`agent ${this.opts.name} is not enrolled in a cluster yet: kvctl cluster bootstrap (or kvctl member add --host) enrolls it with its bootstrap token`);
    }
  }

  private requireSpec(): NodeSpec {
    this.requireEnrolled();
    if (this.state.spec === undefined) throw new AgentStateError(`agent ${this.opts.name} runs no member: configure one first`);
    return this.state.spec;
  }

  private checkMemberName(given: string, spec: NodeSpec | undefined): void {
    if (spec !== undefined && given !== spec.memberName) {
      throw new AgentInputError(`agent ${this.opts.name} runs member ${spec.memberName}, not ${given}: refusing to touch it`);
    }
  }

  async hello(nonce: Uint8Array): Promise<HelloResponse> {
    const { host } = splitHostPort(this.opts.listen);
    return {
      agentName: this.opts.name,
      version: this.opts.version,
      enrolled: this.state.enrolled,
      clusterCa: this.state.enrolled ? await this.caSubject() : '',
      tokenProof: !this.state.enrolled && nonce.length > 0 ? tokenProof(this.opts.token, nonce, this.selfSignedDer) : Buffer.alloc(0),
      hosts: [host],
      runtimes: this.runtimes(),
    };
  }

  private async caSubject(): Promise<string> {
    try {
      return new X509Certificate(await readFile(join(this.tlsDir, 'ca.crt'))).subject.replaceAll('\n', ', ');
    } catch {
      return '';
    }
  }

  async enroll(req: EnrollRequest, bearerToken: string | undefined): Promise<void> {
    if (this.state.enrolled) throw new AgentStateError(`agent ${this.opts.name} is already enrolled in cluster ${this.state.clusterName}`);
    if (bearerToken === undefined || !sameSecret(bearerToken, this.opts.token)) {
      throw new AgentAuthError(`agent ${this.opts.name}: the bootstrap token does not match this agent's`);
    }
    let cert: X509Certificate;
    try {
      const ca = new X509Certificate(req.caPem);
      cert = new X509Certificate(req.certPem);
      if (!cert.verify(ca.publicKey)) throw new Error('the agent certificate is not signed by the CA');
      if (!cert.checkPrivateKey(createPrivateKey(req.keyPem))) throw new Error('the key does not match the certificate');
    } catch (err) {
      throw new AgentInputError(`enroll: ${(err as Error).message}`);
    }
    await ensureDir(this.tlsDir);
    await replaceFile(join(this.tlsDir, 'agent.key'), req.keyPem, keyFileMode);
    await replaceFile(join(this.tlsDir, 'agent.crt'), req.certPem, certFileMode);
    await replaceFile(join(this.tlsDir, 'ca.crt'), req.caPem, certFileMode);
    await this.setState({ enrolled: true, clusterName: req.clusterName });
    this.opts.logger.info(`enrolled in cluster ${req.clusterName}; switching to mutual TLS`);
    // Answer first, then serve mutual TLS on the same port.
    setTimeout(() => void this.rebind(), 50);
  }

  async configure(given: NodeSpec | undefined, replace: boolean): Promise<AgentStatus> {
    this.requireEnrolled();
    const spec = checkSpec(given, this.runtimes());
    const current = this.state.spec;
    if (current !== undefined && !sameSpec(current, spec)) {
      if (!replace) {
        throw new AgentStateError(`agent ${this.opts.name} already runs member ${current.memberName} with other settings: kvctl member update changes it, kvctl member remove frees the host`);
      }
      if ((current.runtime !== spec.runtime || current.image !== spec.image) && (this.supervisor?.status().state ?? 'stopped') !== 'stopped') {
        throw new AgentStateError(`agent ${this.opts.name}: stop member ${current.memberName} before changing its runtime or image`);
      }
    }
    await this.writeMemberFiles(spec);
    // A launcher is made for one runtime and image (a docker container's image is fixed at its creation).
    if (current === undefined || current.runtime !== spec.runtime || current.image !== spec.image) this.supervisor = undefined;
    await this.setState({ spec });
    return await this.status();
  }

  private async writeMemberFiles(spec: NodeSpec): Promise<void> {
    const pki = memberPkiFiles(this.layout.pkiDir);
    await ensureDir(this.layout.pkiDir);
    const tls = spec.clientTls ?? spec.peerTls;
    if (tls !== undefined) await replaceFile(pki.ca, tls.caPem, certFileMode);
    if (spec.clientTls !== undefined) {
      await replaceFile(pki.key, spec.clientTls.keyPem, keyFileMode);
      await replaceFile(pki.cert, spec.clientTls.certPem, certFileMode);
    }
    if (spec.peerTls !== undefined) {
      await replaceFile(pki.peerKey, spec.peerTls.keyPem, keyFileMode);
      await replaceFile(pki.peerCert, spec.peerTls.certPem, certFileMode);
    }
    const values = envValues(spec, this.layout, this.opts.name);
    await replaceFile(this.layout.envFile, `${renderTemplate('etcd.env', values)}\n`, 0o600);
    const execStart =
      spec.runtime === 'etcd' ? (findOnPath(this.opts.etcdBinary) ?? this.opts.etcdBinary)
      : spec.runtime === 'docker' ? dockerRunCommand(spec, this.layout, this.opts.dir)
      : this.opts.kvctlCommand.join(' ');
    const unit = renderTemplate('etcd-member.service', {
      ...values,
      runtime: spec.runtime,
      unitFile: this.layout.unitFile,
      unitName: `etcd-${spec.memberName}.service`,
      envFile: this.layout.envFile,
      execStart,
    });
    await replaceFile(this.layout.unitFile, `${unit}\n`, 0o644);
  }

  private requireIdle(): void {
    if (this.busy !== undefined) throw new AgentStateError(`agent ${this.opts.name} is ${this.busy}: try again when it is done`);
  }

  async startMember(): Promise<AgentStatus> {
    const spec = this.requireSpec();
    this.requireIdle();
    await this.setState({ wantRunning: true });
    await this.supervisorFor(spec).start();
    return await this.status();
  }

  async stopMember(): Promise<AgentStatus> {
    this.requireSpec();
    await this.setState({ wantRunning: false });
    await this.supervisor?.stop();
    return await this.status();
  }

  async restartMember(): Promise<AgentStatus> {
    const spec = this.requireSpec();
    this.requireIdle();
    await this.setState({ wantRunning: true });
    await this.supervisorFor(spec).restart();
    return await this.status();
  }

  /** The member's spec, when it is `memberName` and stopped: its data dir can be read or replaced. */
  private requireStopped(memberName: string, what: string): NodeSpec {
    const spec = this.requireSpec();
    this.checkMemberName(memberName, spec);
    const state = this.supervisor?.status().state ?? 'stopped';
    if (state !== 'stopped') throw new AgentStateError(`agent ${this.opts.name}: member ${spec.memberName} is ${state}: stop it before ${what}`);
    if ((spec.settings.WAL_DIR ?? '') !== '') throw new AgentStateError(`agent ${this.opts.name}: member ${spec.memberName} keeps its WAL in ${spec.settings.WAL_DIR}, outside its data dir: ${what} is not supported for it`);
    return spec;
  }

  /** The stopped member's data dir as a stream, for ImportData on another host. */
  exportData(memberName: string): AsyncGenerator<DataChunk> {
    this.requireStopped(memberName, 'its data is copied');
    this.opts.logger.info(`sending the data dir of member ${memberName}`);
    return exportDataDir(this.layout.dataDir, memberName);
  }

  /** Installs a data dir sent by another agent's ExportData for the (stopped) member configured here. */
  async importData(chunks: AsyncIterable<DataChunk>): Promise<AgentStatus> {
    const spec = this.requireStopped(this.state.spec?.memberName ?? '', 'data is imported');
    this.requireIdle();
    this.busy = 'importing data';
    try {
      const { files, bytes } = await importDataDir(chunks, this.layout.dataDir, spec.memberName);
      this.opts.logger.info(`data dir of member ${spec.memberName} received: ${files} files, ${bytes} bytes`);
    } finally {
      this.busy = undefined;
    }
    return await this.status();
  }

  /**
   * Deletes the member's data dir and what lies beside it: the data a restore replaced (`.before-restore`),
   * and what an interrupted import or restore left. Called only with the member stopped.
   */
  private async deleteData(): Promise<void> {
    const dir = this.layout.dataDir;
    for (const path of [dir, beforeRestoreDir(dir), restoredDir(dir), incomingDir(dir), restoreWorkDir(this.opts.dir)]) {
      await rm(path, { recursive: true, force: true });
    }
  }

  async wipe(memberName: string): Promise<AgentStatus> {
    this.requireEnrolled();
    this.checkMemberName(memberName, this.state.spec);
    await this.setState({ wantRunning: false });
    await this.supervisor?.stop();
    await this.deleteData();
    this.opts.logger.info(`data dir ${this.layout.dataDir} of member ${memberName} deleted`);
    return await this.status();
  }

  async reset(memberName: string, unenroll = false): Promise<AgentStatus> {
    this.requireEnrolled();
    if (memberName !== '' || !unenroll) this.checkMemberName(memberName, this.state.spec);
    await this.setState({ wantRunning: false });
    await this.supervisor?.stop();
    this.supervisor = undefined;
    await this.deleteData();
    await rm(this.layout.configDir, { recursive: true, force: true });
    await this.setState({ spec: undefined });
    this.opts.logger.info(`member ${memberName} forgotten: data, configuration and certificates deleted`);
    const status = await this.status();
    if (unenroll) {
      for (const f of ['ca.crt', 'agent.crt', 'agent.key']) await rm(join(this.tlsDir, f), { force: true });
      await this.setState({ enrolled: false, clusterName: '' });
      this.opts.logger.info('left the cluster: the bootstrap token is accepted again');
      // Answer first, then serve the bootstrap TLS again.
      setTimeout(() => void this.rebind(), 50);
    }
    return status;
  }

  private async rebind(): Promise<void> {
    try {
      await this.shutdownServer();
      if (!this.closed) await this.listen();
    } catch (err) {
      this.opts.logger.error(`could not serve again: ${(err as Error).message}`);
    }
  }

  async status(): Promise<AgentStatus> {
    const spec = this.state.spec;
    const sup = this.supervisor?.status();
    let health = '';
    if (spec !== undefined && sup?.state === 'running') {
      // The spec holds the PEMs the files were written from: no disk reads on every status call.
      const peer = spec.peerTls;
      const tls = peer !== undefined && spec.clientTls !== undefined
        ? { ca: Buffer.from(peer.caPem), cert: Buffer.from(peer.certPem), key: Buffer.from(peer.keyPem) }
        : undefined;
      health = await probeHealth(spec.advertiseClientUrls[0] ?? '', tls);
    }
    return {
      agentName: this.opts.name,
      version: this.opts.version,
      clusterName: this.state.clusterName,
      nodeState: spec === undefined ? 'unconfigured' : (sup?.state ?? 'stopped'),
      memberName: spec?.memberName ?? '',
      runtime: spec?.runtime ?? '',
      pid: sup?.pid ?? 0,
      restarts: sup?.restarts ?? 0,
      lastExit: sup?.lastExit ?? '',
      startedAtMs: sup?.startedAtMs ?? 0,
      health,
      clientUrls: spec?.advertiseClientUrls ?? [],
      peerUrls: spec?.initialAdvertisePeerUrls ?? [],
      dataDir: spec !== undefined ? this.layout.dataDir : '',
      configDir: spec !== undefined ? this.layout.configDir : '',
      restartInMs: sup?.restartInMs ?? 0,
      logFile: this.layout.logFile,
      restoreTools: etcdRestoreTools.filter((tool) => findOnPath(tool) !== undefined),
    };
  }

  /** The Restore call: see restore-data.ts. The member is left stopped, configured with the header's spec. */
  async restoreData(chunks: AsyncIterable<RestoreChunk>): Promise<AgentStatus> {
    this.requireIdle();
    this.busy = 'restoring a snapshot';
    try {
      await this.restoreMember(chunks);
    } finally {
      this.busy = undefined;
    }
    return await this.status();
  }

  private async restoreMember(chunks: AsyncIterable<RestoreChunk>): Promise<void> {
    await restoreMemberData(chunks, {
      agentName: this.opts.name,
      agentDir: this.opts.dir,
      layout: this.layout,
      enrolled: this.state.enrolled,
      configured: this.state.spec,
      memberState: () => this.supervisor?.status().state ?? 'stopped',
      runtimes: this.runtimes(),
      findTool: findOnPath,
      configure: async (spec) => {
        await this.configure(spec, true);
      },
      logger: this.opts.logger,
    });
  }

  /** The member's log: the last `tail` lines, then (follow) what is written until the caller cancels. */
  private async *logLines(tail: number, follow: boolean, cancelled: () => boolean): AsyncGenerator<LogChunk> {
    this.requireEnrolled();
    const offset = await tailOffset(this.layout.logFile, tail);
    for await (const data of readLog(this.layout.logFile, offset, follow, () => cancelled() || this.closed)) yield { data };
  }

  private handlers(): AgentServer {
    const unary =
      <Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>) =>
      (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
        fn(call.request, call).then(
          (res) => callback(null, res),
          (err: unknown) => callback(toServiceError(err)),
        );
      };
    /** A server stream: writes what `source` yields (waiting for drain) until it ends or the caller cancels. */
    const serverStream =
      <Req, Res>(source: (req: Req, cancelled: () => boolean) => AsyncIterable<Res>) =>
      (call: grpc.ServerWritableStream<Req, Res>) => {
        let cancelled = false;
        call.on('cancelled', () => (cancelled = true));
        void (async () => {
          try {
            for await (const item of source(call.request, () => cancelled)) {
              if (cancelled) return;
              if (!call.write(item)) await new Promise((resolve) => call.once('drain', resolve));
            }
            call.end();
          } catch (err) {
            call.destroy(toServiceError(err) as unknown as Error);
          }
        })();
      };
    /**
     * A client stream answered with the agent's status. A caller that gives up ends the stream with an error,
     * so the work cleans up what it half made instead of waiting for more.
     */
    const clientStream =
      <Req>(what: string, fn: (chunks: AsyncIterable<Req>) => Promise<AgentStatus>) =>
      (call: grpc.ServerReadableStream<Req, AgentStatus>, callback: grpc.sendUnaryData<AgentStatus>) => {
        call.on('cancelled', () => call.destroy(new AgentStateError(`the caller cancelled the ${what}`)));
        fn(call as AsyncIterable<Req>).then(
          (res) => callback(null, res),
          (err: unknown) => callback(toServiceError(err)),
        );
      };
    const bearerOf = (md: grpc.Metadata): string | undefined => {
      const value = md.get(tokenMetadataKey)[0];
      return typeof value === 'string' && value.startsWith('Bearer ') ? value.slice('Bearer '.length) : undefined;
    };
    return {
      hello: unary(async (req) => await this.hello(req.nonce)),
      enroll: unary(async (req, call) => {
        await this.enroll(req, bearerOf(call.metadata));
        return { agentName: this.opts.name };
      }),
      configure: unary(async (req) => await this.configure(req.spec, req.replace)),
      start: unary(async () => await this.startMember()),
      stop: unary(async () => await this.stopMember()),
      restart: unary(async () => await this.restartMember()),
      status: unary(async () => {
        this.requireEnrolled();
        return await this.status();
      }),
      wipe: unary(async (req) => await this.wipe(req.memberName)),
      reset: unary(async (req) => await this.reset(req.memberName, req.unenroll)),
      exportData: serverStream<{ memberName: string }, DataChunk>((req) => this.exportData(req.memberName)),
      importData: clientStream<DataChunk>('import', (chunks) => this.importData(chunks)),
      restore: clientStream<RestoreChunk>('restore', (chunks) => this.restoreData(chunks)),
      logs: serverStream<{ tail: number; follow: boolean }, LogChunk>((req, cancelled) => this.logLines(req.tail, req.follow, cancelled)),
    };
  }
}
