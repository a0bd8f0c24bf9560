/** Shared helpers of the peer transport tests: transports on loopback hosts, recording handlers, waits. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

import { type LogLevel, levelLogger } from '../../src/base/logger.js';
import { type Entry, type Message, MessageType, newMessage } from '../../src/server/raft/raftpb.js';
import { type DeliveryReports, type PeerHandler, PeerTransport } from '../../src/server/peer/index.js';
import type { PeerTls } from '../../src/server/peer/index.js';

export const CLUSTER = 0xc1a55e5n;

export function tempDir(prefix = 'kvctl-peer-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Polls `cond` every 5 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function entry(index: number, size = 100): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i) & 0xff;
  return { index, term: 3, type: 0, data };
}

/** A MsgApp from `from` to `to` whose `index` tells messages apart (and orders them). */
export function msgApp(from: bigint, to: bigint, index: number, entrySize = 100): Message {
  return newMessage({ type: MessageType.MsgApp, from, to, term: 3, logTerm: 3, index, commit: index, entries: [entry(index + 1, entrySize)] });
}

export interface Recorded {
  readonly handler: PeerHandler;
  readonly received: Message[];
  readonly snapshots: Array<{ m: Message; path: string; content: Buffer }>;
  readonly calls: Array<{ method: string; payload: Uint8Array; from: bigint }>;
  readonly removed: Set<bigint>;
}

export interface HandlerOptions {
  /** Instead of accepting every snapshot: reject, or delay. The default reads the file and deletes it. */
  receiveSnapshot?: (m: Message, dbPath: string) => Promise<void>;
  call?: (method: string, payload: Uint8Array, from: bigint) => Promise<Uint8Array>;
}

export function recordingHandler(o: HandlerOptions = {}): Recorded {
  const rec: Recorded = { handler: undefined as unknown as PeerHandler, received: [], snapshots: [], calls: [], removed: new Set() };
  (rec as { handler: PeerHandler }).handler = {
    process: (m) => void rec.received.push(m),
    receiveSnapshot: async (m, dbPath) => {
      if (o.receiveSnapshot) return o.receiveSnapshot(m, dbPath);
      rec.snapshots.push({ m, path: dbPath, content: fs.readFileSync(dbPath) });
      fs.unlinkSync(dbPath); // the node takes the file
    },
    isRemoved: (id) => rec.removed.has(id),
    call: async (method, payload, from) => {
      rec.calls.push({ method, payload, from });
      if (o.call) return o.call(method, payload, from);
      return new TextEncoder().encode(`${method}:${new TextDecoder().decode(payload)}:${from.toString(16)}`);
    },
  };
  return rec;
}

export interface RecordedReports {
  readonly reports: DeliveryReports;
  readonly unreachable: bigint[];
  readonly snapshotStatus: Array<[bigint, boolean]>;
  readonly removedBy: bigint[];
  readonly connectionLost: bigint[];
}

export function recordingReports(): RecordedReports {
  const r = {
    unreachable: [] as bigint[],
    snapshotStatus: [] as Array<[bigint, boolean]>,
    removedBy: [] as bigint[],
    connectionLost: [] as bigint[],
  };
  return {
    ...r,
    reports: {
      unreachable: (id) => void r.unreachable.push(id),
      snapshotStatus: (id, ok) => void r.snapshotStatus.push([id, ok]),
      removedFromCluster: (by) => void r.removedBy.push(by),
      connectionLost: (id) => void r.connectionLost.push(id),
    },
  };
}

export interface Member {
  readonly id: bigint;
  readonly transport: PeerTransport;
  readonly rec: Recorded;
  readonly reports: RecordedReports;
  readonly logs: Array<{ level: LogLevel; message: string }>;
  /** http://host:port of its listener. */
  readonly url: string;
  readonly receiveDir: string;
}

export interface MemberOptions {
  id: bigint;
  cluster?: bigint;
  host?: string;
  port?: number;
  localAddress?: string;
  handler?: HandlerOptions;
  receiveDir?: string;
  /** Listen on https:// and dial peers with these TLS settings. */
  tls?: PeerTls;
}

/** Starts a transport on `host` (127.0.0.1 by default); the test closes it and deletes its directory. */
export async function startMember(t: TestContext, o: MemberOptions): Promise<Member> {
  const host = o.host ?? '127.0.0.1';
  const receiveDir = o.receiveDir ?? path.join(tempDir(), 'snap');
  const rec = recordingHandler(o.handler);
  const reports = recordingReports();
  const logs: Array<{ level: LogLevel; message: string }> = [];
  const transport = await PeerTransport.listen({
    memberId: o.id,
    clusterId: o.cluster ?? CLUSTER,
    listenUrls: [new URL(`${o.tls ? 'https' : 'http'}://${host}:${o.port ?? 0}`)],
    localAddress: o.localAddress,
    ...(o.tls !== undefined ? { tls: o.tls } : {}),
    receiveDir,
    handler: rec.handler,
    reports: reports.reports,
    logger: levelLogger('debug', (level, message) => logs.push({ level, message })),
  });
  t.after(async () => {
    await transport.close();
    fs.rmSync(path.dirname(receiveDir), { recursive: true, force: true });
  });
  return { id: o.id, transport, rec, reports, logs, url: `${o.tls ? 'https' : 'http'}://${transport.addresses[0]}`, receiveDir };
}

/** Makes every member a peer of every other and waits until all streams are up. */
export async function connectAll(members: readonly Member[], timeoutMs = 5000): Promise<void> {
  for (const a of members) for (const b of members) if (a !== b) a.transport.setPeer(b.id, [b.url]);
  await waitFor(
    () => members.every((a) => members.every((b) => a === b || a.transport.activeSince(b.id) !== undefined)),
    'every stream to be up',
    timeoutMs,
  );
}

export function logText(m: Member): string {
  return m.logs.map((l) => `${l.level}: ${l.message}`).join('\n');
}
