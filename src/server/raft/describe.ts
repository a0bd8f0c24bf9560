/**
 * Deterministic one-line renderings of raft values, shared by logs, test failure output and the
 * simulator's trace. Ids print in hex, as etcd prints them.
 */
import { decodeConfChange, decodeConfChangeV2 } from './codec.js';
import {
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type Snapshot,
  confChangeAsV2,
  fmtId,
  messageTypeName,
} from './raftpb.js';
import type { Ready } from './raw-node.js';

const changeNames = ['v', 'r', 'u', 'l'] as const;

/** A conf change as etcd's tools print it, e.g. `v2 l3 r4` (voter 2, learner 3, remove 4). */
export function describeConfChange(cc: ConfChangeV2): string {
  const parts = cc.changes.map((c) => `${changeNames[c.type]}${fmtId(c.nodeId)}`);
  if (cc.transition !== 0) parts.unshift(cc.transition === 1 ? 'implicit' : 'explicit');
  return parts.length === 0 ? 'leave-joint' : parts.join(' ');
}

function describeData(e: Entry, data: (d: Uint8Array) => string): string {
  try {
    if (e.type === EntryType.ConfChange) return describeConfChange(confChangeAsV2(decodeConfChange(e.data)));
    if (e.type === EntryType.ConfChangeV2) return describeConfChange(decodeConfChangeV2(e.data));
  } catch {
    return '<malformed conf change>';
  }
  return data(e.data);
}

function defaultData(d: Uint8Array): string {
  if (d.length === 0) return '';
  let printable = true;
  for (const b of d) if (b < 0x20 || b > 0x7e) printable = false;
  if (printable && d.length <= 32) return `"${String.fromCharCode(...d)}"`;
  return `<${d.length}B>`;
}

export function describeEntry(e: Entry, data: (d: Uint8Array) => string = defaultData): string {
  const kind = e.type === EntryType.Normal ? 'EntryNormal' : e.type === EntryType.ConfChange ? 'EntryConfChange' : 'EntryConfChangeV2';
  const body = describeData(e, data);
  return `${e.term}/${e.index} ${kind}${body === '' ? '' : ` ${body}`}`;
}

export function describeConfState(cs: ConfState): string {
  const ids = (l: readonly bigint[]) => `[${l.map(fmtId).join(' ')}]`;
  let s = `Voters:${ids(cs.voters)}`;
  if (cs.votersOutgoing.length > 0) s += ` VotersOutgoing:${ids(cs.votersOutgoing)}`;
  if (cs.learners.length > 0) s += ` Learners:${ids(cs.learners)}`;
  if (cs.learnersNext.length > 0) s += ` LearnersNext:${ids(cs.learnersNext)}`;
  if (cs.autoLeave) s += ' AutoLeave:true';
  return s;
}

export function describeSnapshot(s: Snapshot): string {
  return `Index:${s.metadata.index} Term:${s.metadata.term} ConfState:${describeConfState(s.metadata.confState)}`;
}

export function describeHardState(hs: HardState): string {
  return `Term:${hs.term} Vote:${fmtId(hs.vote)} Commit:${hs.commit}`;
}

export function describeMessage(m: Message, data?: (d: Uint8Array) => string): string {
  let s = `${fmtId(m.from)}->${fmtId(m.to)} ${messageTypeName(m.type)} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.vote !== 0n) s += ` Vote:${fmtId(m.vote)}`;
  if (m.entries.length > 0 && m.type !== MessageType.MsgReadIndex && m.type !== MessageType.MsgReadIndexResp) {
    s += ` Entries:[${m.entries.map((e) => describeEntry(e, data)).join(', ')}]`;
  }
  if (m.snapshot !== undefined && m.snapshot.metadata.index > 0) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`;
  return s;
}

export function describeReady(rd: Ready, data?: (d: Uint8Array) => string): string {
  const lines: string[] = [];
  if (rd.softState !== undefined) lines.push(`Lead:${fmtId(rd.softState.lead)} State:${rd.softState.raftState}`);
  if (rd.hardState !== undefined) lines.push(`HardState ${describeHardState(rd.hardState)}`);
  if (rd.readStates.length > 0) lines.push(`ReadStates: ${rd.readStates.map((r) => r.index).join(' ')}`);
  if (rd.entries.length > 0) lines.push('Entries:', ...rd.entries.map((e) => `  ${describeEntry(e, data)}`));
  if (rd.snapshot !== undefined) lines.push(`Snapshot ${describeSnapshot(rd.snapshot)}`);
  if (rd.committedEntries.length > 0) lines.push('CommittedEntries:', ...rd.committedEntries.map((e) => `  ${describeEntry(e, data)}`));
  if (rd.messages.length > 0) lines.push('Messages:', ...rd.messages.map((m) => `  ${describeMessage(m, data)}`));
  return lines.join('\n');
}
