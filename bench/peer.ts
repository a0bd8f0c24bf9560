/**
 * Peer transport throughput between two processes on loopback (127.0.0.1 -> 127.0.0.2): the receiver is
 * this same file started with `--receiver`.
 *
 * Raft messages: every turn of the event loop one send() of N MsgApp (one entry each), as a raft loop
 * sends a Ready's messages, for `--seconds`; then the figures: messages delivered per second, MiB/s of
 * framed bytes, messages per gRPC batch, and drops (a full queue when the offered load exceeds the link).
 * Snapshot: one 64 MiB backend file, from sendSnapshot to the peer's handler having the file.
 *
 * Usage: node --import tsx bench/peer.ts [--seconds 2] [--quick] [--json]
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { noopLogger } from '../src/base/logger.js';
import { PeerTransport } from '../src/server/peer/index.js';
import { type Message, MessageType, newMessage } from '../src/server/raft/raftpb.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const SENDER = 1n;
const RECEIVER = 2n;
const CLUSTER = 0xbe7cn;

const noHandler = { process() {}, async receiveSnapshot() {}, isRemoved: () => false, async call() { return new Uint8Array(); } };
const noReports = { unreachable() {}, snapshotStatus() {}, removedFromCluster() {}, connectionLost() {} };

/** The receiving member: counts messages, answers 'count', deletes snapshot files; prints its address. */
async function receiver(): Promise<void> {
  let received = 0;
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'kvctl-bench-peer-r-'));
  const t = await PeerTransport.listen({
    memberId: RECEIVER,
    clusterId: CLUSTER,
    listenUrls: [new URL('http://127.0.0.2:0')],
    receiveDir: dir,
    handler: {
      ...noHandler,
      process: () => void received++,
      receiveSnapshot: async (_m, path) => fs.unlinkSync(path),
      call: async () => new TextEncoder().encode(String(received)),
    },
    reports: noReports,
    logger: noopLogger,
  });
  process.stdout.write(`${t.addresses[0]}\n`);
  const stop = async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.stdin.on('end', () => void stop()); // the parent went away
  process.stdin.resume();
}

interface Result {
  readonly scenario: string;
  readonly perSend: number;
  readonly entryBytes: number;
  readonly delivered: number;
  readonly seconds: number;
  readonly msgsPerSec: number;
  readonly mibPerSec: number;
  readonly msgsPerBatch: number;
  readonly dropped: number;
}

async function main(): Promise<void> {
  const quick = flag('quick');
  const seconds = Number(arg('seconds', quick ? '0.5' : '2'));
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--receiver'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const addr = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(String(d).trim()));
    child.once('exit', (code) => reject(new Error(`receiver exited (${code})`)));
  });
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'kvctl-bench-peer-s-'));
  const t = await PeerTransport.listen({
    memberId: SENDER,
    clusterId: CLUSTER,
    listenUrls: [new URL('http://127.0.0.1:0')],
    receiveDir: dir,
    handler: noHandler,
    reports: noReports,
    logger: noopLogger,
  });
  try {
    t.setPeer(RECEIVER, [`http://${addr}`]);
    for (let i = 0; i < 1000 && t.activeSince(RECEIVER) === undefined; i++) await new Promise((r) => setTimeout(r, 5));
    if (t.activeSince(RECEIVER) === undefined) throw new Error('the stream to the receiver did not come up');
    const count = async () => Number(new TextDecoder().decode(await t.call(RECEIVER, 'count', new Uint8Array(), 5000)));

    const results: Result[] = [];
    let index = 0;
    for (const [perSend, entryBytes] of [
      [1, 100],
      [16, 100],
      [64, 100],
      [16, 1024],
      [16, 8192],
    ] as const) {
      const data = new Uint8Array(entryBytes);
      const before = { ...t.stats(RECEIVER)! };
      const receivedBefore = await count();
      const started = performance.now();
      let sent = 0;
      while (performance.now() - started < seconds * 1000) {
        const batch: Message[] = [];
        for (let k = 0; k < perSend; k++) {
          index++;
          batch.push(
            newMessage({ type: MessageType.MsgApp, from: SENDER, to: RECEIVER, term: 2, logTerm: 2, index, commit: index, entries: [{ index: index + 1, term: 2, type: 0, data }] }),
          );
        }
        t.send(batch);
        sent += perSend;
        await nextTurn();
      }
      let delivered = 0;
      let dropped = 0;
      for (let i = 0; i < 5000; i++) {
        delivered = (await count()) - receivedBefore;
        dropped = t.stats(RECEIVER)!.droppedMessages - before.droppedMessages;
        if (delivered + dropped >= sent) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      const secs = (performance.now() - started) / 1000;
      const after = t.stats(RECEIVER)!;
      results.push({
        scenario: 'raft',
        perSend,
        entryBytes,
        delivered,
        seconds: secs,
        msgsPerSec: Math.round(delivered / secs),
        mibPerSec: (after.sentBytes - before.sentBytes) / 1048576 / secs,
        msgsPerBatch: (after.sentMessages - before.sentMessages) / Math.max(1, after.sentBatches - before.sentBatches),
        dropped,
      });
    }

    const snapBytes = (quick ? 8 : 64) * 1024 * 1024;
    const file = join(dir, 'db');
    const chunk = Buffer.alloc(1024 * 1024, 0x5a);
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < snapBytes / chunk.length; i++) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
    let done!: (ok: boolean) => void;
    const finished = new Promise<boolean>((r) => (done = r));
    (noReports as { snapshotStatus: (id: bigint, ok: boolean) => void }).snapshotStatus = (_id, ok) => done(ok);
    const started = performance.now();
    t.sendSnapshot(
      newMessage({
        type: MessageType.MsgSnap,
        from: SENDER,
        to: RECEIVER,
        snapshot: { data: new Uint8Array(), metadata: { index: 1, term: 1, confState: { voters: [SENDER, RECEIVER], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } },
      }),
      { path: file, size: snapBytes, release() {} },
    );
    const ok = await finished;
    const snapSecs = (performance.now() - started) / 1000;

    if (flag('json')) {
      console.log(JSON.stringify({ raft: results, snapshot: { bytes: snapBytes, ok, seconds: snapSecs } }, null, 2));
    } else {
      console.log(`peer transport, 2 processes on loopback, ${seconds} s per row (MsgApp with one entry each)`);
      for (const r of results) {
        console.log(
          `  ${String(r.perSend).padStart(3)} msgs/send, ${String(r.entryBytes).padStart(5)} B entry: ` +
            `${String(r.msgsPerSec).padStart(7)} msgs/s, ${r.mibPerSec.toFixed(1).padStart(6)} MiB/s, ` +
            `${r.msgsPerBatch.toFixed(1).padStart(6)} msgs/batch, dropped ${r.dropped}`,
        );
      }
      console.log(`  snapshot ${snapBytes / 1048576} MiB: ${ok ? 'ok' : 'FAILED'} in ${(snapSecs * 1000).toFixed(0)} ms = ${(snapBytes / 1048576 / snapSecs).toFixed(0)} MiB/s`);
    }
  } finally {
    await t.close();
    child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (flag('receiver')) await receiver();
else await main();
