/**
 * A fault-injecting TCP proxy for tests: the suite's stand-in for netem, which this kernel lacks. It listens on one
 * loopback address and forwards every connection to one target; faults apply to the connections of one SOURCE or of
 * all of them.
 *
 *     const proxy = await startFaultProxy({ listenHost: '127.0.0.2', targetHost: '127.0.0.2', targetPort: 2380 });
 *     proxy.block('127.0.0.3');           // member 3 can no longer reach the target (blackhole)
 *     proxy.block(undefined, 'reset');    // nobody can: every connection is reset
 *     proxy.unblock();                    // heal
 *     await proxy.close();
 *
 * Sources. A connection's source is, by default, the address it comes from (`socket.remoteAddress`): kvctl's peer
 * transport binds its outgoing connections to its own host address, so a connection from 127.0.0.2 is member 2.
 * Programs that do not bind (real etcd: Linux picks 127.0.0.1 as the source of any unbound connection to
 * 127.0.0.x) need `identify`, which names the source from the first bytes the connection sends, e.g. etcd's
 * `X-Server-From` request header (`httpHeaderSource`). The target is connected only once the source is known and
 * not blocked, so a blocked connection never reaches it.
 *
 * Faults:
 * - `block(source?, mode)`: a partition. Existing connections of the source are cut and new ones are refused:
 *   `'drop'` blackholes them (the proxy keeps accepting and reading, discards every byte and never answers, so
 *   the peers see a connection that hangs, as across a real partition); `'reset'` resets them (RST).
 *   `unblock` heals: blackholed connections are then reset, because the bytes they lost cannot be resent and the
 *   stream would be corrupt; the programs reconnect.
 * - `delay(ms, source?)`: every forwarded chunk waits `ms` (order kept, both directions).
 * - `dropAfter(bytes, { source, mode })`: a connection is cut after forwarding that many more bytes (both
 *   directions together), once per connection.
 * - `cutAll({ source, mode })`: cuts the current connections once; new ones go through.
 * A rule for one source and a rule for all sources may both exist: a connection is blocked if either blocks it,
 * and the rule for its own source wins for the mode, the delay and dropAfter.
 *
 * Every socket and timer belongs to the proxy and ends with `close()`; nothing else listens or connects anywhere
 * but the two addresses given.
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

export type FaultMode = 'drop' | 'reset';

/**
 * Names a connection's source from the bytes it has sent so far: a label, `null` to wait for more bytes, or
 * `undefined` when the bytes do not tell (the source is then the remote address).
 */
export type SourceIdentifier = (head: Buffer) => string | null | undefined;

export type FaultProxyOptions = {
  /** Loopback address to listen on (127.x.y.z). */
  listenHost: string;
  /** Port to listen on (default: one the kernel picks). */
  listenPort?: number;
  targetHost: string;
  targetPort: number;
  /** Names sources from their first bytes instead of their address; see `httpHeaderSource`. */
  identify?: SourceIdentifier;
  /** Give up identifying after this long (default 2000 ms) or this many bytes (default 16 KiB). */
  identifyTimeoutMs?: number;
  identifyMaxBytes?: number;
};

export type ConnectionState = 'identifying' | 'connecting' | 'open' | 'blackholed' | 'closed';

export type ConnectionInfo = {
  readonly id: number;
  readonly source: string;
  readonly remoteAddress: string;
  readonly state: ConnectionState;
  /** Bytes forwarded client->target and target->client. */
  readonly bytesUp: number;
  readonly bytesDown: number;
};

export type ProxyStats = {
  /** Connections accepted since the start. */
  accepted: number;
  /** Connections not yet closed (forwarding, identifying or blackholed). */
  active: number;
  /** Connections currently blackholed. */
  blackholed: number;
  /** Connections the proxy reset (blocked in 'reset' mode, cut, healed after a blackhole, target unreachable). */
  resets: number;
  /** Connections refused at once because their source was blocked. */
  refused: number;
  bytesUp: number;
  bytesDown: number;
  /** Bytes read and thrown away by blackholes and cut connections. */
  bytesDiscarded: number;
  /** Per source: connections accepted and still active. */
  bySource: Record<string, { accepted: number; active: number }>;
};

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`: what to advertise instead of the target. */
  readonly url: string;
  /** `host:port`. */
  readonly endpoint: string;
  /** `host:port` of the target. */
  readonly target: string;
  /** Partitions `source` (all sources when omitted) from the target; see the module comment. */
  block(source?: string, mode?: FaultMode): void;
  /** Lifts the block of `source`, or every block when omitted. Blackholed connections it frees are reset. */
  unblock(source?: string): void;
  isBlocked(source: string): boolean;
  /** Delays forwarded data of `source` (all when omitted) by `ms`; 0 removes the rule. */
  delay(ms: number, source?: string): void;
  /** Cuts each connection of `source` after `bytes` more forwarded bytes; `null` removes the rule. */
  dropAfter(bytes: number | null, opts?: { source?: string; mode?: FaultMode }): void;
  /** Cuts the current connections (of `source`, or all) once; returns how many. Default mode 'reset'. */
  cutAll(opts?: { source?: string; mode?: FaultMode }): number;
  /** Removes every fault rule (as unblock() + delay(0) + dropAfter(null) for every source). */
  clearFaults(): void;
  stats(): ProxyStats;
  connections(): ConnectionInfo[];
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

/** The source key that stands for every source. */
const ALL = '*';
/** See resetLink. */
const RESET_AFTER_MS = 5;

/**
 * A `SourceIdentifier` for HTTP/1.x clients that name themselves in a request header, as etcd's peers do with
 * `X-Server-From: <member id in hex>` on every raft stream, pipeline and snapshot request. Requests without the
 * header (etcd's /raft/probing, /version, /members) get `fallback` as their source: `undefined` means the remote
 * address. Anything that is not HTTP/1.x (HTTP/2's preface, TLS) is left to the address.
 */
export function httpHeaderSource(header: string, fallback?: string): SourceIdentifier {
  const wanted = header.toLowerCase();
  return (head) => {
    const firstLine = head.indexOf('\r\n');
    if (firstLine < 0) return head.length < 4096 && !/[^\x20-\x7e]/.test(head.toString('latin1')) ? null : undefined;
    const requestLine = head.subarray(0, firstLine).toString('latin1');
    if (!/^[A-Z]+ \S+ HTTP\/1\.[01]$/.test(requestLine)) return undefined;
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return null;
    for (const line of head.subarray(firstLine + 2, end).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted) return line.slice(colon + 1).trim();
    }
    return fallback;
  };
}

type Direction = 'up' | 'down';

type Link = {
  id: number;
  client: Socket;
  upstream: Socket | undefined;
  source: string;
  remoteAddress: string;
  state: ConnectionState;
  head: Buffer[];
  headBytes: number;
  identifyTimer: NodeJS.Timeout | undefined;
  bytesUp: number;
  bytesDown: number;
  /** Forwarded bytes after which the link is cut (dropAfter), and how. */
  cutAt: { bytes: number; mode: FaultMode } | undefined;
  /** Delivery time of the last delayed chunk per direction, so that delayed chunks keep their order. */
  lastDelivery: Record<Direction, number>;
  /** The client has sent its FIN (it may still read). */
  clientEnded: boolean;
  /** A side paused until the other drains (backpressure), per direction. */
  waitingDrain: Record<Direction, boolean>;
  timers: Set<NodeJS.Timeout>;
};

/** Sends RST (once connected, for a socket still connecting) and destroys the socket. */
function rst(socket: Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}

function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Starts a proxy; resolves once it listens. */
export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const links = new Set<Link>();
  const blocks = new Map<string, FaultMode>();
  const delays = new Map<string, number>();
  const dropRules = new Map<string, { bytes: number; mode: FaultMode }>();
  const bySource = new Map<string, { accepted: number; active: number }>();
  const counters = { accepted: 0, resets: 0, refused: 0, bytesUp: 0, bytesDown: 0, bytesDiscarded: 0 };
  /** Resets scheduled by resetLink, with their sockets, so that close() can destroy them at once. */
  const pendingResets = new Map<NodeJS.Timeout, Socket[]>();
  let nextId = 1;
  let closed = false;

  const ruleFor = <T>(rules: Map<string, T>, source: string): T | undefined => rules.get(source) ?? rules.get(ALL);
  const blockModeOf = (source: string): FaultMode | undefined => ruleFor(blocks, source);
  const delayOf = (source: string): number => ruleFor(delays, source) ?? 0;
  const matches = (link: Link, source: string | undefined): boolean => source === undefined || source === ALL || link.source === source;

  const sourceStats = (source: string): { accepted: number; active: number } => {
    let s = bySource.get(source);
    if (s === undefined) {
      s = { accepted: 0, active: 0 };
      bySource.set(source, s);
    }
    return s;
  };

  function finish(link: Link): void {
    if (link.state === 'closed') return;
    if (link.state !== 'identifying') sourceStats(link.source).active--;
    link.state = 'closed';
    if (link.identifyTimer !== undefined) clearTimeout(link.identifyTimer);
    for (const t of link.timers) clearTimeout(t);
    link.timers.clear();
    links.delete(link);
  }

  /**
   * Resets both sides (RST to the client, and to the target if connected). Forwarding stops at once; the RST
   * follows a few milliseconds later, because a RST that reaches Linux together with the last data it was
   * forwarded is reported to the reader as a clean end of stream.
   */
  function resetLink(link: Link): void {
    if (link.state === 'closed') return;
    counters.resets++;
    finish(link);
    const sockets = link.upstream === undefined ? [link.client] : [link.client, link.upstream];
    for (const socket of sockets) socket.pause();
    const timer = setTimeout(() => {
      pendingResets.delete(timer);
      for (const socket of sockets) rst(socket);
    }, RESET_AFTER_MS);
    pendingResets.set(timer, sockets);
  }

  /** Stops forwarding: both sides stay open, everything they send is read and thrown away, nothing is answered. */
  function blackhole(link: Link): void {
    if (link.state === 'closed' || link.state === 'blackholed') return;
    if (link.identifyTimer !== undefined) clearTimeout(link.identifyTimer);
    for (const t of link.timers) clearTimeout(t);
    link.timers.clear();
    if (link.state === 'identifying') sourceStats(link.source).active++;
    link.state = 'blackholed';
    link.head = [];
    // Flowing mode even if backpressure had paused a side: a blackhole keeps reading.
    link.client.resume();
    link.upstream?.resume();
  }

  function cut(link: Link, mode: FaultMode): void {
    if (mode === 'reset') resetLink(link);
    else blackhole(link);
  }

  /**
   * Passes an end of stream on in `dir` once the chunks delayed before it are delivered (a FIN must not overtake
   * data). Once neither side has anything left to send, the link is done.
   */
  function endAfterDelivery(link: Link, dir: Direction): void {
    const to = dir === 'up' ? link.upstream : link.client;
    if (to === undefined) return;
    const end = (): void => {
      if (link.state === 'open' && !to.destroyed) to.end();
    };
    const wait = link.lastDelivery[dir] - Date.now();
    if (wait <= 0) end();
    else {
      const timer = setTimeout(() => {
        link.timers.delete(timer);
        end();
      }, wait);
      link.timers.add(timer);
    }
  }

  /** Forwards one chunk in `dir`, after the delay rule of the link's source, then applies dropAfter. */
  function forward(link: Link, dir: Direction, chunk: Buffer): void {
    if (link.state === 'blackholed' || link.state === 'closed') {
      counters.bytesDiscarded += chunk.length;
      return;
    }
    const from = dir === 'up' ? link.client : link.upstream;
    const to = dir === 'up' ? link.upstream : link.client;
    if (to === undefined || from === undefined) return;
    const deliver = (): void => {
      if (link.state !== 'open' || to.destroyed || to.writableEnded) {
        counters.bytesDiscarded += chunk.length;
        return;
      }
      if (dir === 'up') {
        link.bytesUp += chunk.length;
        counters.bytesUp += chunk.length;
      } else {
        link.bytesDown += chunk.length;
        counters.bytesDown += chunk.length;
      }
      if (!to.write(chunk) && !link.waitingDrain[dir]) {
        link.waitingDrain[dir] = true;
        from.pause();
        to.once('drain', () => {
          link.waitingDrain[dir] = false;
          if (link.state === 'open') from.resume();
        });
      }
      if (link.cutAt !== undefined && link.bytesUp + link.bytesDown >= link.cutAt.bytes) {
        const { mode } = link.cutAt;
        link.cutAt = undefined;
        cut(link, mode);
      }
    };
    const ms = delayOf(link.source);
    const now = Date.now();
    if (ms <= 0 && link.lastDelivery[dir] <= now) {
      deliver();
      return;
    }
    const at = Math.max(now + ms, link.lastDelivery[dir]);
    link.lastDelivery[dir] = at;
    const timer = setTimeout(() => {
      link.timers.delete(timer);
      deliver();
    }, at - now);
    link.timers.add(timer);
  }

  /** The source is known: refuse, blackhole or connect to the target. */
  function admit(link: Link, source: string): void {
    if (link.state !== 'identifying') return;
    if (link.identifyTimer !== undefined) clearTimeout(link.identifyTimer);
    link.identifyTimer = undefined;
    link.source = source;
    const stats = sourceStats(source);
    stats.accepted++;
    const mode = blockModeOf(source);
    if (mode === 'reset') {
      counters.refused++;
      stats.active++;
      link.state = 'connecting';
      resetLink(link);
      return;
    }
    if (mode === 'drop') {
      counters.refused++;
      for (const chunk of link.head) counters.bytesDiscarded += chunk.length;
      blackhole(link);
      return;
    }
    stats.active++;
    link.state = 'connecting';
    const rule = ruleFor(dropRules, source);
    if (rule !== undefined) link.cutAt = { ...rule };
    link.client.pause();
    const upstream = connect({ host: opts.targetHost, port: opts.targetPort, allowHalfOpen: true });
    link.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('error', () => resetLink(link));
    upstream.on('data', (chunk: Buffer) => forward(link, 'down', chunk));
    upstream.on('end', () => endAfterDelivery(link, 'down'));
    upstream.on('close', () => {
      if (link.state === 'connecting') resetLink(link); // the target refused or vanished
      else if (link.state === 'open') {
        if (link.client.destroyed) finish(link);
        else endAfterDelivery(link, 'down');
      }
    });
    upstream.once('connect', () => {
      if (link.state !== 'connecting') return;
      link.state = 'open';
      const head = link.head;
      link.head = [];
      for (const chunk of head) forward(link, 'up', chunk);
      if (link.state !== 'open') return;
      if (link.clientEnded) endAfterDelivery(link, 'up');
      else link.client.resume();
    });
  }

  function accept(client: Socket): void {
    if (closed) {
      client.destroy();
      return;
    }
    counters.accepted++;
    client.setNoDelay(true);
    const link: Link = {
      id: nextId++,
      client,
      upstream: undefined,
      source: normalizeAddress(client.remoteAddress),
      remoteAddress: normalizeAddress(client.remoteAddress),
      state: 'identifying',
      head: [],
      headBytes: 0,
      identifyTimer: undefined,
      bytesUp: 0,
      bytesDown: 0,
      cutAt: undefined,
      lastDelivery: { up: 0, down: 0 },
      waitingDrain: { up: false, down: false },
      clientEnded: false,
      timers: new Set(),
    };
    links.add(link);
    client.on('error', () => resetLink(link));
    client.on('data', (chunk: Buffer) => {
      if (link.state === 'identifying') {
        link.head.push(chunk);
        link.headBytes += chunk.length;
        tryIdentify();
      } else if (link.state === 'connecting') {
        link.head.push(chunk);
      } else {
        forward(link, 'up', chunk);
      }
    });
    client.on('end', () => {
      link.clientEnded = true;
      if (link.state === 'identifying') admit(link, link.source);
      else if (link.state === 'open') endAfterDelivery(link, 'up');
      // 'connecting': passed on once the target is connected.
    });
    client.on('close', () => {
      if (link.state === 'closed') return;
      if (link.state === 'open' && link.upstream !== undefined && !link.upstream.destroyed) {
        endAfterDelivery(link, 'up'); // the link ends when the target closes too
        return;
      }
      finish(link);
      link.upstream?.destroy();
    });

    const identify = opts.identify;
    const tryIdentify = (): void => {
      if (identify === undefined) return;
      const label = identify(Buffer.concat(link.head));
      if (label === null && link.headBytes < (opts.identifyMaxBytes ?? 16_384)) return;
      admit(link, label ?? link.remoteAddress);
    };
    if (identify === undefined) {
      admit(link, link.remoteAddress);
    } else {
      link.identifyTimer = setTimeout(() => admit(link, link.remoteAddress), opts.identifyTimeoutMs ?? 2000);
    }
  }

  const server: Server = createServer({ allowHalfOpen: true }, accept);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listenPort ?? 0, opts.listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;

  const proxy: FaultProxy = {
    host: opts.listenHost,
    port,
    url: `http://${opts.listenHost}:${port}`,
    endpoint: `${opts.listenHost}:${port}`,
    target: `${opts.targetHost}:${opts.targetPort}`,
    block(source, mode = 'drop') {
      blocks.set(source ?? ALL, mode);
      for (const link of [...links]) {
        if (link.state === 'identifying' || !matches(link, source)) continue;
        const effective = blockModeOf(link.source);
        if (effective !== undefined) cut(link, effective);
      }
    },
    unblock(source) {
      if (source === undefined) blocks.clear();
      else blocks.delete(source);
      for (const link of [...links]) {
        if (link.state === 'blackholed' && blockModeOf(link.source) === undefined) resetLink(link);
      }
    },
    isBlocked(source) {
      return blockModeOf(source) !== undefined;
    },
    delay(ms, source) {
      if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`delay must be a finite number of ms >= 0, got ${ms}`);
      if (ms === 0) delays.delete(source ?? ALL);
      else delays.set(source ?? ALL, ms);
    },
    dropAfter(bytes, o = {}) {
      const key = o.source ?? ALL;
      if (bytes === null) {
        dropRules.delete(key);
        return;
      }
      if (!(bytes >= 0) || !Number.isSafeInteger(bytes)) throw new RangeError(`dropAfter needs a byte count >= 0, got ${bytes}`);
      const rule = { bytes, mode: o.mode ?? 'reset' };
      dropRules.set(key, rule);
      for (const link of [...links]) {
        if (link.state !== 'open' && link.state !== 'connecting') continue;
        if (!matches(link, o.source) || ruleFor(dropRules, link.source) !== rule) continue;
        link.cutAt = { bytes: link.bytesUp + link.bytesDown + bytes, mode: rule.mode };
        if (bytes === 0 && link.state === 'open') cut(link, rule.mode);
      }
    },
    cutAll(o = {}) {
      let n = 0;
      for (const link of [...links]) {
        if (link.state === 'closed' || link.state === 'identifying' || !matches(link, o.source)) continue;
        if (link.state === 'blackholed' && (o.mode ?? 'reset') === 'drop') continue;
        cut(link, o.mode ?? 'reset');
        n++;
      }
      return n;
    },
    clearFaults() {
      delays.clear();
      dropRules.clear();
      for (const link of links) link.cutAt = undefined;
      proxy.unblock();
    },
    stats() {
      let blackholed = 0;
      for (const link of links) if (link.state === 'blackholed') blackholed++;
      return {
        ...counters,
        active: links.size,
        blackholed,
        bySource: Object.fromEntries([...bySource].map(([k, v]) => [k, { ...v }])),
      };
    },
    connections() {
      return [...links].map((l) => ({
        id: l.id,
        source: l.source,
        remoteAddress: l.remoteAddress,
        state: l.state,
        bytesUp: l.bytesUp,
        bytesDown: l.bytesDown,
      }));
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        server.close(() => resolve());
        for (const [timer, sockets] of pendingResets) {
          clearTimeout(timer);
          for (const socket of sockets) socket.destroy();
        }
        pendingResets.clear();
        for (const link of [...links]) {
          finish(link);
          link.client.destroy();
          link.upstream?.destroy();
        }
      });
      return closing;
    },
  };
  return proxy;
}
