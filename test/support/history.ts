/**
 * Records what concurrent clients did to a cluster, for the linearizability checker (linearizability.ts).
 *
 *     const { history, counts } = await runWorkload({ endpoints: cluster.endpoints, durationMs: 3000, seed });
 *     const result = checkLinearizable(history);
 *
 * Each client is sequential: it calls an op, waits for the answer (or the command timeout), and goes on. Times come
 * from `performance.now()` of this process: the call time is taken before the request is handed to gRPC and the
 * return time after the answer arrived, so the real interval of the op on the server lies inside the recorded one.
 *
 * Outcomes, and why they are sound:
 * - An answer is a known outcome.
 * - A write (put, delete, cas) that failed in any other way than "never sent" is recorded with an unknown outcome:
 *   a timeout or a lost connection says nothing about whether it was applied, and etcd's errors after proposing
 *   ("request timed out", "leader changed") do not either.
 * - A write that was never sent (the client reached no endpoint: `ClientError` kind 'unreachable') is left out.
 * - A failed read is left out: it changed nothing.
 * After a failure the client moves on to the next endpoint (a new EtcdClient starting there), as a real client's
 * balancer would, so that one hung member does not hold a client for the whole run.
 *
 * Values are unique (`c<client>-<n>`), so a read names the write it saw.
 */
import { performance } from 'node:perf_hooks';

import { SeededRng } from '../../src/base/rng.js';
import { type CallOptions, ClientError, EtcdClient, compare, op, txnRequest } from '../../src/client/index.js';
import type { KvInput, KvOutput, Operation } from './linearizability.js';

/**
 * Runs one model op through our client and returns what the server said, in the checker's terms. Reads are
 * linearizable unless `serializable` (served from the member's own state: may be stale, which the checker should
 * then catch).
 */
export async function runKvOp(client: EtcdClient, input: KvInput, opts: { serializable?: boolean; call?: CallOptions } = {}): Promise<KvOutput> {
  const call = opts.call;
  switch (input.op) {
    case 'put':
      await client.put(input.key, input.value, {}, call);
      return { op: 'put' };
    case 'get': {
      const res = await client.range(input.key, { serializable: opts.serializable ?? false }, call);
      const kv = res.kvs[0];
      return { op: 'get', value: kv === undefined ? null : kv.value.toString('utf8') };
    }
    case 'delete': {
      const res = await client.deleteRange(input.key, {}, call);
      return { op: 'delete', deleted: Number(res.deleted) };
    }
    case 'cas': {
      // etcd fails every VALUE comparison on a missing key, so "absent" is compared as version 0.
      const condition =
        input.expected === null ? compare('VERSION', input.key, '=', 0) : compare('VALUE', input.key, '=', input.expected);
      const res = await client.txn(txnRequest([condition], [op.put(input.key, input.value)], []), call);
      return { op: 'cas', succeeded: res.succeeded };
    }
  }
}

/** What became of a recorded op. */
export type RecordedOutcome = 'ok' | 'unknown' | 'not-sent' | 'failed-read';

/** A history being recorded: ops with their call and return times and outcomes. */
export class HistoryRecorder {
  readonly ops: Operation[] = [];
  readonly counts: Record<RecordedOutcome, number> = { ok: 0, unknown: 0, 'not-sent': 0, 'failed-read': 0 };
  /** Failures by error code (`DEADLINE_EXCEEDED`, `ETCD_LEADER_CHANGED`, ...). */
  readonly errors: Record<string, number> = {};

  /** Runs `input` with `run`, records it as described in the module comment, and returns the outcome. */
  async record(client: number, input: KvInput, run: () => Promise<KvOutput>): Promise<{ outcome: RecordedOutcome; output?: KvOutput; error?: unknown }> {
    const call = performance.now();
    try {
      const output = await run();
      const ret = performance.now();
      this.ops.push({ client, input, call, return: ret, output });
      this.counts.ok++;
      return { outcome: 'ok', output };
    } catch (error) {
      const code = error instanceof ClientError ? error.code : error instanceof Error ? error.name : 'unknown';
      this.errors[code] = (this.errors[code] ?? 0) + 1;
      let outcome: RecordedOutcome;
      if (input.op === 'get') outcome = 'failed-read';
      else if (error instanceof ClientError && (error.kind === 'unreachable' || error.kind === 'bad-request')) outcome = 'not-sent';
      else {
        this.ops.push({ client, input, call, unknown: true });
        outcome = 'unknown';
      }
      this.counts[outcome]++;
      return { outcome, error };
    }
  }
}

export type WorkloadOptions = {
  /** Client endpoints (`host:port`); client i starts at endpoint i mod n. */
  endpoints: readonly string[];
  /** How long the clients keep issuing ops. */
  durationMs: number;
  seed: number;
  /** Concurrent clients (default 4). */
  clients?: number;
  /** Keys (default k0, k1, k2). */
  keys?: readonly string[];
  /** Relative weights of the ops (default get 4, put 3, delete 1, cas 2). */
  mix?: { get: number; put: number; delete: number; cas: number };
  /** Per-op deadline (default 1000 ms) and dial timeout (default 500 ms). */
  commandTimeoutMs?: number;
  dialTimeoutMs?: number;
  /** Longest pause between two ops of one client (default 3 ms). */
  maxThinkMs?: number;
  /** Stops the clients early. */
  signal?: AbortSignal;
  /** Prefix of the values (default ''), to tell runs apart. */
  valuePrefix?: string;
  /** Serializable reads (default false): only for showing that the checker catches stale reads. */
  serializableReads?: boolean;
};

export type WorkloadResult = {
  history: Operation[];
  counts: Record<RecordedOutcome, number>;
  errors: Record<string, number>;
  /** Wall time the clients ran. */
  elapsedMs: number;
};

/**
 * Runs `clients` concurrent clients doing random put/get/delete/cas on a few keys for `durationMs`; see the module
 * comment. A cas expects the value its client last saw for the key (or absence), so that both outcomes happen.
 */
export async function runWorkload(opts: WorkloadOptions): Promise<WorkloadResult> {
  if (opts.endpoints.length === 0) throw new Error('runWorkload: no endpoints');
  const keys = opts.keys ?? ['k0', 'k1', 'k2'];
  const mix = opts.mix ?? { get: 4, put: 3, delete: 1, cas: 2 };
  const total = mix.get + mix.put + mix.delete + mix.cas;
  const recorder = new HistoryRecorder();
  const started = performance.now();
  const end = started + opts.durationMs;
  const prefix = opts.valuePrefix ?? '';

  const runClient = async (id: number): Promise<void> => {
    // One generator per client: the clients interleave by timing, each one's choices follow from the seed.
    const rng = new SeededRng((opts.seed * 1000 + id) >>> 0);
    let offset = id % opts.endpoints.length;
    const connect = (): EtcdClient =>
      EtcdClient.create({
        endpoints: opts.endpoints.map((_, i) => opts.endpoints[(offset + i) % opts.endpoints.length]!),
        commandTimeoutMs: opts.commandTimeoutMs ?? 1000,
        dialTimeoutMs: opts.dialTimeoutMs ?? 500,
      });
    let client = connect();
    const lastSeen = new Map<string, string | null>();
    let n = 0;
    try {
      while (performance.now() < end && !opts.signal?.aborted) {
        const key = keys[rng.int(keys.length)]!;
        const value = `${prefix}c${id}-${n++}`;
        let pick = rng.int(total);
        let input: KvInput;
        if ((pick -= mix.get) < 0) input = { op: 'get', key };
        else if ((pick -= mix.put) < 0) input = { op: 'put', key, value };
        else if ((pick -= mix.delete) < 0) input = { op: 'delete', key };
        else input = { op: 'cas', key, expected: lastSeen.get(key) ?? null, value };
        const c = client;
        const result = await recorder.record(id, input, () => runKvOp(c, input, { serializable: opts.serializableReads }));
        if (result.outcome === 'ok' && result.output !== undefined) {
          const out = result.output;
          if (out.op === 'get') lastSeen.set(key, out.value);
          else if (out.op === 'put' && input.op === 'put') lastSeen.set(key, input.value);
          else if (out.op === 'delete') lastSeen.set(key, null);
          else if (out.op === 'cas' && out.succeeded && input.op === 'cas') lastSeen.set(key, input.value);
        } else if (result.outcome !== 'ok') {
          client.close();
          offset = (offset + 1) % opts.endpoints.length;
          client = connect();
        }
        const think = rng.int((opts.maxThinkMs ?? 3) + 1);
        if (think > 0) await new Promise((r) => setTimeout(r, think));
      }
    } finally {
      client.close();
    }
  };

  await Promise.all(Array.from({ length: opts.clients ?? 4 }, (_, i) => runClient(i + 1)));
  return { history: recorder.ops, counts: { ...recorder.counts }, errors: { ...recorder.errors }, elapsedMs: performance.now() - started };
}
