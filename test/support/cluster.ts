/**
 * Multi-member clusters of real processes on loopback, for end-to-end tests: the real etcd (`etcd` on PATH, or
 * $ETCD_BIN) or `kvctl node` (the built CLI), with the same flags.
 *
 *     const cluster = await startCluster({ kind: 'etcd', proxied: true });
 *     after(() => cluster.stop());
 *     const leader = await cluster.leader();
 *     cluster.partition(leader);           // isolate it through the fault proxies
 *     cluster.heal();
 *     await leader.kill9(); await leader.restart();
 *
 * Layout. Member i (m1, m2, ...) lives on its own host 127.0.0.i, with free client and peer ports there and its own
 * temporary data directory. `--initial-cluster` lists every member's ADVERTISED peer URL. With `proxied`, each member
 * advertises a fault proxy (fault-proxy.ts) on its own host that forwards to its real `--listen-peer-urls`, so all
 * raft traffic INTO member i crosses proxy i. Client traffic goes straight to the members.
 *
 * Partitions. `partition(m)` blocks everything arriving at m's proxy (m hears nobody), and on every other proxy the
 * connections that come FROM m (nobody hears m). Which connections come from m is the proxy's `source`:
 * - kvctl binds its peer connections to its host address, so the source is the remote address (127.0.0.i);
 * - etcd does not bind (Linux then picks 127.0.0.1 for every member), but names itself in the `X-Server-From`
 *   header of every raft stream, pipeline and snapshot request, so the proxies read that header and the source is
 *   the member id in hex. etcd's peer requests without the header (/raft/probing, /version, /members) are labelled
 *   `unidentified`, and a partition blocks those on every proxy too: Go's HTTP client may reuse such a keep-alive
 *   connection for raft messages, so letting them through could leak messages across the partition. Blocking them
 *   only costs the other members their probes while a partition lasts.
 *
 * Timing. Tests run with a short heartbeat and election timeout (100/1000 ms by default): a lost leader is
 * replaced within a few seconds.
 *
 * Cleanup. `stop()` kills every process (SIGKILL), closes the proxies and clients and removes the data
 * directories; it is idempotent and meant for `after()`. Every member process still running when the test
 * process exits (or gets SIGINT/SIGTERM/SIGHUP) is killed and its directory removed.
 */
import { reapDir, reapProcess, releaseDir, releaseProcess } from './reaper.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type ClientOptions, EtcdClient, type HashKVResponse, type StatusResponse, type TlsOptions } from '../../src/client/index.js';
import { root } from '../e2e/kvctl.js';
import { type FaultMode, type FaultProxy, httpHeaderSource, startFaultProxy } from './fault-proxy.js';
import { freePort } from './ports.js';
import { waitExit, waitFor } from './wait.js';


export type ClusterKind = 'etcd' | 'kvctl';

export type StartClusterOptions = {
  kind: ClusterKind;
  /** Members (default 3), on hosts 127.0.0.1 .. 127.0.0.size. */
  size?: number;
  /** Advertise a fault proxy per member (needed for partition()). Default false. */
  proxied?: boolean;
  /** --heartbeat-interval and --election-timeout in ms (default 100 and 1000). */
  heartbeatMs?: number;
  electionMs?: number;
  /** --snapshot-count (default: the program's own). */
  snapshotCount?: number;
  /** More flags for every member (after ours, so they can override them), or per member. */
  extraArgs?: readonly string[] | ((member: { name: string; index: number }) => readonly string[]);
  /** Extra environment for the processes. */
  env?: NodeJS.ProcessEnv;
  /**
   * TLS: https client and/or peer URLs (the certificate flags go in `extraArgs`), and the TLS material the
   * harness's own clients use for https client URLs.
   */
  tls?: { clientUrls?: boolean; peerUrls?: boolean; client?: TlsOptions };
  /** How partition() cuts connections: 'drop' (blackhole, default) or 'reset'. */
  faultMode?: FaultMode;
  /** How long start, restart and join wait for a member to serve with a leader (default 30 s). */
  readyTimeoutMs?: number;
  /** Leave the data directories after stop() (to inspect them). */
  keepDataDirs?: boolean;
  /**
   * Runs once every member's host, ports, peer URL and data directory are chosen and before any process
   * starts (again on each attempt, when ports had to be chosen anew): e.g. to replace the data directories
   * with `kvctl snapshot restore` output for this cluster's members and token. A member whose data directory
   * already holds a WAL restarts from it and ignores the --initial-cluster* flags, as etcd does.
   */
  beforeStart?: (cluster: Cluster) => Promise<void> | void;
};

export interface ClusterMember {
  /** 1-based position: member i is `m<i>` on host 127.0.0.i. */
  readonly index: number;
  readonly name: string;
  readonly host: string;
  /** `http://host:port` of the client listener, and `host:port` (what EtcdClient and etcdctl take). */
  readonly clientUrl: string;
  readonly endpoint: string;
  /** The peer URL the cluster knows this member by (its proxy when proxied). */
  readonly peerUrl: string;
  /** Where the member itself listens for peers. */
  readonly listenPeerUrl: string;
  readonly dataDir: string;
  readonly proxy: FaultProxy | undefined;
  /** The member id, once it has answered a Status call. */
  readonly id: bigint | undefined;
  /** The process id of the current process, if one is running. */
  readonly pid: number | undefined;
  running(): boolean;
  /** The process's output so far (stdout and stderr, the last 256 KiB, across restarts). */
  log(): string;
  /** SIGKILL, and wait for the process to be gone. */
  kill9(): Promise<void>;
  /** SIGTERM, SIGKILL after 10 s; resolves when the process is gone. */
  stop(): Promise<void>;
  /** Starts the process again with the same flags and data directory (stopping it first if it runs). */
  /** `editArgs` changes the process's flags from this start on (e.g. another certificate). */
  restart(opts?: { waitReady?: boolean; editArgs?: (args: readonly string[]) => string[] }): Promise<void>;
}

export interface Cluster {
  readonly kind: ClusterKind;
  readonly members: readonly ClusterMember[];
  /** Client endpoints (`host:port`) of every member. */
  readonly endpoints: string[];
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly token: string;
  member(nameOrIndex: string | number): ClusterMember;
  /** A client over every member's endpoint; closed by stop(). */
  client(opts?: { endpoints?: readonly string[]; commandTimeoutMs?: number; dialTimeoutMs?: number }): EtcdClient;
  /** The member's Status, or undefined when it does not answer within `timeoutMs` (default 1000). */
  status(member: ClusterMember, timeoutMs?: number): Promise<StatusResponse | undefined>;
  /** HashKV of one member (revision 0: up to its current revision). */
  hashKV(member: ClusterMember, revision?: number | bigint): Promise<HashKVResponse>;
  /**
   * Waits (default up to 10 election timeouts) for a leader that itself and a majority of the cluster agree on,
   * and returns it. `not`: wait for a leader other than this one (a new leader after a failure).
   */
  leader(opts?: { timeoutMs?: number; not?: ClusterMember }): Promise<ClusterMember>;
  /** Isolates a member (the handle, its name or its index) through the proxies (proxied clusters only). */
  partition(member: ClusterMember | string | number, mode?: FaultMode): void;
  /** Lifts every partition. */
  heal(): void;
  /**
   * Waits until every running member reports the same revision and the same HashKV at it; returns them. Stop
   * writing first.
   */
  waitConverged(opts?: { timeoutMs?: number; members?: readonly ClusterMember[] }): Promise<{ revision: bigint; hash: number }>;
  /**
   * Stops every member, keeping the data (SIGTERM by default; `kill: true` crashes them all with SIGKILL), starts
   * them all again and waits for a leader.
   */
  restartAll(opts?: { kill?: boolean }): Promise<void>;
  /**
   * Reserves the next host (127.0.0.<n+1>), ports, data directory and proxy for a new member, without starting it:
   * add it to the cluster first (`member add <name> --peer-urls=<member.peerUrl>`), then `startJoining` it.
   */
  prepareMember(opts?: { name?: string }): Promise<ClusterMember>;
  /**
   * Starts a prepared member with `--initial-cluster-state existing`; `initialCluster` defaults to every member of
   * this handle (name=peerUrl), which must be the cluster's membership. Waits until it has a leader.
   * `env`: start it as an operator would with what `member add` printed: those ETCD_* settings (ETCD_NAME,
   * ETCD_INITIAL_CLUSTER, ETCD_INITIAL_ADVERTISE_PEER_URLS, ETCD_INITIAL_CLUSTER_STATE) become its environment,
   * on this start and every restart, and the flags they stand for are left out: etcd refuses a setting given both
   * ways ("conflicting environment variable ... is shadowed by corresponding command-line flag"). ETCD_NAME must be
   * the prepared member's name.
   */
  startJoining(member: ClusterMember, opts?: { initialCluster?: string; env?: Readonly<Record<string, string>> }): Promise<void>;
  /** The last lines of every member's log, for failure messages. */
  logTails(lines?: number): string;
  /** Kills everything, closes proxies and clients, removes the data directories. Idempotent. */
  stop(): Promise<void>;
}

/** How a cluster kind is run, and how its proxies tell members apart. */
type Flavor = {
  command: string;
  prefixArgs: readonly string[];
  cwd: string | undefined;
  /** 'address': peers bind their source address; 'x-server-from': they name themselves in an HTTP header. */
  peerSource: 'address' | 'x-server-from';
};

const UNIDENTIFIED = 'unidentified';

function flavorOf(kind: ClusterKind): Flavor {
  if (kind === 'etcd') return { command: process.env.ETCD_BIN ?? 'etcd', prefixArgs: [], cwd: undefined, peerSource: 'x-server-from' };
  return { command: process.execPath, prefixArgs: [join(root, 'bin/run.js'), 'node'], cwd: root, peerSource: 'address' };
}

const LOG_LIMIT = 256 * 1024;

/** The ETCD_* variable etcd (and `kvctl node`) reads for a flag: `--initial-cluster` is `ETCD_INITIAL_CLUSTER`. */
function envNameOf(flag: string): string {
  return `ETCD_${flag.replace(/^--/, '').toUpperCase().replaceAll('-', '_')}`;
}

class Member implements ClusterMember {
  readonly clientUrl: string;
  readonly endpoint: string;
  readonly listenPeerUrl: string;
  readonly peerUrl: string;
  id: bigint | undefined;
  args: string[] = [];
  /** ETCD_* settings this member starts with as its environment (startJoining's `env`), on top of the cluster's. */
  bootEnv: Readonly<Record<string, string>> = {};
  private child: ChildProcess | undefined;
  private output = '';
  /** Status client, dropped after a failure so that the next call dials afresh (no reconnect backoff). */
  private statusClient: EtcdClient | undefined;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly host: string,
    clientPort: number,
    peerPort: number,
    readonly dataDir: string,
    readonly proxy: FaultProxy | undefined,
    private readonly flavor: Flavor,
    private readonly env: NodeJS.ProcessEnv | undefined,
    private readonly readyTimeoutMs: number,
    private readonly tls: StartClusterOptions['tls'],
  ) {
    const clientScheme = tls?.clientUrls ? 'https' : 'http';
    const peerScheme = tls?.peerUrls ? 'https' : 'http';
    this.clientUrl = `${clientScheme}://${host}:${clientPort}`;
    this.endpoint = `${host}:${clientPort}`;
    this.listenPeerUrl = `${peerScheme}://${host}:${peerPort}`;
    // The proxy forwards TCP: TLS passes through it unchanged.
    this.peerUrl = proxy === undefined ? this.listenPeerUrl : proxy.url.replace(/^http:/, `${peerScheme}:`);
  }

  /** What a harness client of this member needs (TLS for https client URLs). */
  clientOptions(timeoutMs: number): ClientOptions {
    return {
      endpoints: [this.endpoint],
      dialTimeoutMs: timeoutMs,
      commandTimeoutMs: timeoutMs,
      ...(this.tls?.client !== undefined ? { tls: this.tls.client } : {}),
    };
  }

  get pid(): number | undefined {
    return this.running() ? this.child?.pid : undefined;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return this.output;
  }

  tail(lines: number): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  /** Spawns the process with `this.args`. */
  spawn(): void {
    if (this.running()) throw new Error(`${this.name} is already running`);
    if (this.output !== '') this.append(`\n--- ${this.name} started again ---\n`);
    const child = spawn(this.flavor.command, [...this.flavor.prefixArgs, ...this.args], {
      cwd: this.flavor.cwd,
      env: { ...process.env, ...this.env, ...this.bootEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    reapProcess(child);
    child.stdout?.on('data', (d: Buffer) => this.append(d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => this.append(d.toString('utf8')));
    child.once('error', (err) => this.append(`\n--- could not run ${this.flavor.command}: ${err.message} ---\n`));
    child.once('exit', (code, signal) => {
      releaseProcess(child);
      this.append(`\n--- ${this.name} exited (code ${code}, signal ${signal}) ---\n`);
    });
  }

  private append(text: string): void {
    this.output = (this.output + text).slice(-LOG_LIMIT);
  }

  async kill9(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running()) return;
    child.kill('SIGKILL');
    await waitExit(child, 10_000);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running()) return;
    child.kill('SIGTERM');
    if (!(await waitExit(child, 10_000))) {
      child.kill('SIGKILL');
      await waitExit(child, 10_000);
    }
  }

  async restart(opts: { waitReady?: boolean; editArgs?: (args: readonly string[]) => string[] } = {}): Promise<void> {
    await this.stop();
    if (opts.editArgs !== undefined) this.args = opts.editArgs(this.args);
    this.spawn();
    if (opts.waitReady ?? true) await this.waitReady(this.readyTimeoutMs);
  }

  async status(timeoutMs: number): Promise<StatusResponse | undefined> {
    if (!this.running()) return undefined;
    this.statusClient ??= EtcdClient.create(this.clientOptions(timeoutMs));
    try {
      const status = await this.statusClient.status(this.endpoint);
      if (status.header !== undefined) this.id = status.header.memberId;
      return status;
    } catch {
      this.closeStatusClient();
      return undefined;
    }
  }

  closeStatusClient(): void {
    this.statusClient?.close();
    this.statusClient = undefined;
  }

  /** Waits until the member answers Status with a leader; fails early if the process exits. */
  async waitReady(timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        if (!this.running()) throw new Error(`${this.name} is not running:\n${this.tail(40)}`);
        const s = await this.status(1000);
        return s !== undefined && s.leader !== 0n;
      },
      { timeoutMs, intervalMs: 100, what: `${this.name} (${this.endpoint}) to serve with a leader` },
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- ${this.name} log (tail) ---\n${this.tail(40)}`);
    });
  }
}

let clusterCount = 0;

/** Starts a cluster; see the module comment. Retries with new ports if a port was taken meanwhile. */
export async function startCluster(opts: StartClusterOptions): Promise<Cluster> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const cluster = await createCluster(opts);
    try {
      await cluster.boot();
      return cluster;
    } catch (err) {
      lastError = err;
      await cluster.stop();
      if (!(err instanceof Error && /address already in use/i.test(err.message))) break;
    }
  }
  throw lastError;
}

async function createCluster(opts: StartClusterOptions): Promise<ClusterImpl> {
  const size = opts.size ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 250) throw new RangeError(`cluster size must be 1..250, got ${size}`);
  const cluster = new ClusterImpl(opts);
  try {
    for (let i = 1; i <= size; i++) await cluster.addMemberSlot(`m${i}`);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

class ClusterImpl implements Cluster {
  readonly kind: ClusterKind;
  readonly members: Member[] = [];
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly token: string;
  private readonly flavor: Flavor;
  private readonly clients = new Set<EtcdClient>();
  private readonly readyTimeoutMs: number;
  private stopped: Promise<void> | undefined;

  constructor(private readonly opts: StartClusterOptions) {
    this.kind = opts.kind;
    this.flavor = flavorOf(opts.kind);
    this.heartbeatMs = opts.heartbeatMs ?? 100;
    this.electionMs = opts.electionMs ?? 1000;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
    this.token = `kvctl-test-${process.pid}-${++clusterCount}-${Date.now().toString(36)}`;
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** Host, ports, data directory and proxy for the next member. */
  async addMemberSlot(name: string): Promise<Member> {
    const index = this.members.length + 1;
    const host = `127.0.0.${index}`;
    const clientPort = await freePort(host);
    let peerPort = await freePort(host);
    while (peerPort === clientPort) peerPort = await freePort(host);
    const dataDir = mkdtempSync(join(tmpdir(), `kvctl-cluster-${name}-`));
    if (!this.opts.keepDataDirs) reapDir(dataDir);
    let proxy: FaultProxy | undefined;
    if (this.opts.proxied) {
      proxy = await startFaultProxy({
        listenHost: host,
        targetHost: host,
        targetPort: peerPort,
        identify: this.flavor.peerSource === 'x-server-from' ? httpHeaderSource('X-Server-From', UNIDENTIFIED) : undefined,
      });
    }
    const member = new Member(index, name, host, clientPort, peerPort, dataDir, proxy, this.flavor, this.opts.env, this.readyTimeoutMs, this.opts.tls);
    this.members.push(member);
    return member;
  }

  /** The member's flags; those `m.bootEnv` sets as ETCD_* variables are left out (etcd refuses both at once). */
  private argsFor(m: Member, state: 'new' | 'existing', initialCluster: string): string[] {
    const extra = typeof this.opts.extraArgs === 'function' ? this.opts.extraArgs({ name: m.name, index: m.index }) : (this.opts.extraArgs ?? []);
    const settings: Array<[flag: string, value: string]> = [
      ['--name', m.name],
      ['--data-dir', m.dataDir],
      ['--listen-client-urls', m.clientUrl],
      ['--advertise-client-urls', m.clientUrl],
      ['--listen-peer-urls', m.listenPeerUrl],
      ['--initial-advertise-peer-urls', m.peerUrl],
      ['--initial-cluster', initialCluster],
      ['--initial-cluster-state', state],
      ['--initial-cluster-token', this.token],
      ['--heartbeat-interval', String(this.heartbeatMs)],
      ['--election-timeout', String(this.electionMs)],
    ];
    if (this.opts.snapshotCount !== undefined) settings.push(['--snapshot-count', String(this.opts.snapshotCount)]);
    return [...settings.filter(([flag]) => !Object.hasOwn(m.bootEnv, envNameOf(flag))).flat(), ...extra];
  }

  private initialCluster(members: readonly Member[]): string {
    return members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  /** Runs `beforeStart`, starts every member at once (they need each other for a quorum) and waits until they agree on a leader. */
  async boot(): Promise<void> {
    await this.opts.beforeStart?.(this);
    const initial = this.initialCluster(this.members);
    for (const m of this.members) {
      m.args = this.argsFor(m, 'new', initial);
      m.spawn();
    }
    await this.waitAllReady();
  }

  private async waitAllReady(): Promise<void> {
    await Promise.all(this.members.filter((m) => m.running()).map((m) => m.waitReady(this.readyTimeoutMs)));
    await this.leader({ timeoutMs: this.readyTimeoutMs });
  }

  member(nameOrIndex: string | number): ClusterMember {
    const m = this.members.find((x) => x.name === nameOrIndex || x.index === nameOrIndex);
    if (m === undefined) throw new Error(`no member ${nameOrIndex} (have ${this.members.map((x) => x.name).join(', ')})`);
    return m;
  }

  private own(member: ClusterMember): Member {
    const m = this.members.find((x) => x === member);
    if (m === undefined) throw new Error(`${member.name} is not a member of this cluster handle`);
    return m;
  }

  client(o: { endpoints?: readonly string[]; commandTimeoutMs?: number; dialTimeoutMs?: number } = {}): EtcdClient {
    const client = EtcdClient.create({
      endpoints: o.endpoints ?? this.endpoints,
      commandTimeoutMs: o.commandTimeoutMs ?? 5000,
      dialTimeoutMs: o.dialTimeoutMs ?? 1000,
      ...(this.opts.tls?.client !== undefined ? { tls: this.opts.tls.client } : {}),
    });
    this.clients.add(client);
    return client;
  }

  status(member: ClusterMember, timeoutMs = 1000): Promise<StatusResponse | undefined> {
    return this.own(member).status(timeoutMs);
  }

  async hashKV(member: ClusterMember, revision: number | bigint = 0): Promise<HashKVResponse> {
    const client = EtcdClient.create({ ...this.own(member).clientOptions(5000), dialTimeoutMs: 1000 });
    try {
      return await client.hashKV(member.endpoint, revision);
    } finally {
      client.close();
    }
  }

  async leader(o: { timeoutMs?: number; not?: ClusterMember } = {}): Promise<ClusterMember> {
    const quorum = Math.floor(this.members.length / 2) + 1;
    return waitFor(
      async () => {
        const statuses = await Promise.all(this.members.map(async (m) => ({ m, s: await m.status(Math.min(1000, this.electionMs)) })));
        const votes = new Map<bigint, number>();
        for (const { s } of statuses) if (s !== undefined && s.leader !== 0n) votes.set(s.leader, (votes.get(s.leader) ?? 0) + 1);
        for (const { m, s } of statuses) {
          if (s === undefined || m.id === undefined || s.leader !== m.id || m === o.not) continue;
          if ((votes.get(m.id) ?? 0) >= quorum) return m;
        }
        return undefined;
      },
      {
        timeoutMs: o.timeoutMs ?? 10 * this.electionMs,
        intervalMs: Math.max(20, Math.floor(this.heartbeatMs / 2)),
        what: o.not ? `a leader other than ${o.not.name}` : 'a leader a majority agrees on',
      },
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${this.logTails(15)}`);
    });
  }

  /** The source label other proxies see on the connections `m` opens. */
  private sourceOf(m: Member): string {
    if (this.flavor.peerSource === 'address') return m.host;
    if (m.id === undefined) throw new Error(`${m.name}'s member id is not known yet (it has not answered a Status call)`);
    // etcd's types.ID prints as lowercase hex without padding.
    return m.id.toString(16);
  }

  partition(member: ClusterMember | string | number, mode: FaultMode = this.opts.faultMode ?? 'drop'): void {
    const m = this.own(typeof member === 'object' ? member : this.member(member));
    if (m.proxy === undefined) throw new Error('partition() needs a cluster started with proxied: true');
    const source = this.sourceOf(m);
    m.proxy.block(undefined, mode);
    for (const other of this.members) {
      if (other === m || other.proxy === undefined) continue;
      other.proxy.block(source, mode);
      if (this.flavor.peerSource === 'x-server-from') other.proxy.block(UNIDENTIFIED, mode);
    }
  }

  heal(): void {
    for (const m of this.members) m.proxy?.unblock();
  }

  async waitConverged(o: { timeoutMs?: number; members?: readonly ClusterMember[] } = {}): Promise<{ revision: bigint; hash: number }> {
    const members = (o.members ?? this.members).map((m) => this.own(m)).filter((m) => m.running());
    let last = '';
    return waitFor(
      async () => {
        const statuses = await Promise.all(members.map((m) => m.status(1000)));
        const revisions = statuses.map((s) => s?.header?.revision);
        last = `revisions ${members.map((m, i) => `${m.name}=${revisions[i] ?? '?'}`).join(' ')}`;
        const revision = revisions[0];
        if (revision === undefined || revisions.some((r) => r !== revision)) return undefined;
        let hashes: HashKVResponse[];
        try {
          hashes = await Promise.all(members.map((m) => this.hashKV(m, revision)));
        } catch (err) {
          last += `, HashKV failed: ${err instanceof Error ? err.message : String(err)}`;
          return undefined;
        }
        last += `, hashes at ${revision}: ${members.map((m, i) => `${m.name}=${hashes[i]?.hash}`).join(' ')}`;
        const hash = hashes[0]?.hash;
        if (hash === undefined || hashes.some((h) => h.hash !== hash)) return undefined;
        return { revision, hash };
      },
      { timeoutMs: o.timeoutMs ?? 10 * this.electionMs, intervalMs: 100, what: 'every member to reach the same revision and hash' },
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; last seen: ${last}\n${this.logTails(15)}`);
    });
  }

  async restartAll(o: { kill?: boolean } = {}): Promise<void> {
    await Promise.all(this.members.map((m) => (o.kill ? m.kill9() : m.stop())));
    for (const m of this.members) m.spawn();
    await this.waitAllReady();
  }

  async prepareMember(o: { name?: string } = {}): Promise<ClusterMember> {
    return this.addMemberSlot(o.name ?? `m${this.members.length + 1}`);
  }

  async startJoining(member: ClusterMember, o: { initialCluster?: string; env?: Readonly<Record<string, string>> } = {}): Promise<void> {
    const m = this.own(member);
    if (m.running()) throw new Error(`${m.name} is already running`);
    m.bootEnv = o.env ?? {};
    m.args = this.argsFor(m, 'existing', o.initialCluster ?? this.initialCluster(this.members));
    m.spawn();
    await m.waitReady(this.readyTimeoutMs);
  }

  logTails(lines = 20): string {
    return this.members.map((m) => `--- ${m.name} (${m.endpoint}) log, last ${lines} lines ---\n${m.tail(lines)}`).join('\n');
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      for (const c of this.clients) c.close();
      this.clients.clear();
      await Promise.all(this.members.map((m) => m.kill9()));
      for (const m of this.members) m.closeStatusClient();
      await Promise.all(this.members.map((m) => m.proxy?.close()));
      if (!this.opts.keepDataDirs) {
        for (const m of this.members) {
          rmSync(m.dataDir, { recursive: true, force: true });
          releaseDir(m.dataDir);
        }
      }
    })();
    return this.stopped;
  }
}
