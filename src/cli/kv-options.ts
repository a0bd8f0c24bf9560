/**
 * etcdctl's `get`, `put` and `del` options turned into requests, with etcdctl's checks, messages and exit codes
 * (getGetOp, getPutOp, getDelOp). Shared by the commands and by `txn`, whose lines use the same syntax.
 */
import {
  type DeleteOptions,
  type PutOptions,
  type RangeOptions,
  type RequestOp,
  type SortOrder,
  type SortTarget,
  op,
} from '../client/index.js';
import { Args } from '@oclif/core';

import { CtlError } from './ctl-error.js';
import { ExitCode } from './exit-codes.js';
import { GoParseError, goParseInt } from '../base/go-format.js';

/**
 * The `<key> [range_end]` arguments of get, del and watch. ignoreStdin: oclif would otherwise fill a
 * missing argument from piped stdin, which etcdctl never does.
 */
export const keyRangeArgs = {
  key: Args.string({ description: 'key, or start of the range', ignoreStdin: true }),
  range_end: Args.string({ description: 'end of the range (exclusive)', ignoreStdin: true }),
};

export type GetOptions = {
  prefix?: boolean;
  'from-key'?: boolean;
  limit?: bigint;
  rev?: bigint;
  order?: string;
  'sort-by'?: string;
  consistency?: string;
  'keys-only'?: boolean;
  'count-only'?: boolean;
  'min-mod-rev'?: bigint;
  'max-mod-rev'?: bigint;
  'min-create-rev'?: bigint;
  'max-create-rev'?: bigint;
};

const badArgs = (message: string): CtlError => new CtlError(message, ExitCode.ExitBadArgs);
const badFeature = (message: string): CtlError => new CtlError(message, ExitCode.ExitBadFeature);

const sortTargets: Readonly<Record<string, SortTarget>> = { CREATE: 'CREATE', KEY: 'KEY', MODIFY: 'MOD', VALUE: 'VALUE', VERSION: 'VERSION' };

export type GetSpec = { key: Buffer; opts: RangeOptions };
export type PutSpec = { key: Buffer; value: Buffer; opts: PutOptions };
export type DelSpec = { key: Buffer; opts: DeleteOptions };

/** `get <key> [range_end]`: extra arguments are ignored, as etcdctl does. */
export function getSpec(args: readonly Buffer[], o: GetOptions): GetSpec {
  const [key, rangeEnd] = args;
  if (key === undefined) throw badArgs('get command needs one argument as key and an optional argument as range_end');
  if (o.prefix && o['from-key']) throw badArgs('`--prefix` and `--from-key` cannot be set at the same time, choose one');
  if (o['keys-only'] && o['count-only']) throw badArgs('`--keys-only` and `--count-only` cannot be set at the same time, choose one');
  const consistency = o.consistency ?? 'l';
  if (consistency !== 'l' && consistency !== 's') throw badFeature(`unknown consistency flag "${consistency}"`);
  if (rangeEnd !== undefined && (o.prefix || o['from-key'])) {
    throw badArgs('too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
  }
  const orderText = (o.order ?? '').toUpperCase();
  let sortOrder: SortOrder = 'NONE';
  if (orderText === 'ASCEND' || orderText === 'DESCEND') sortOrder = orderText;
  else if (orderText !== '') throw badFeature(`bad sort order ${o.order}`);
  const targetText = (o['sort-by'] ?? '').toUpperCase();
  const sortTarget: SortTarget | undefined = targetText === '' ? 'KEY' : sortTargets[targetText];
  if (sortTarget === undefined) throw badFeature(`bad sort target ${o['sort-by']}`);

  const opts: RangeOptions = {
    rangeEnd,
    prefix: o.prefix,
    fromKey: o['from-key'],
    limit: o.limit,
    // etcdctl sends --rev only when positive.
    revision: o.rev !== undefined && o.rev > 0n ? o.rev : undefined,
    sortOrder,
    sortTarget,
    serializable: consistency === 's',
    keysOnly: o['keys-only'],
    countOnly: o['count-only'],
    minModRevision: o['min-mod-rev'],
    maxModRevision: o['max-mod-rev'],
    minCreateRevision: o['min-create-rev'],
    maxCreateRevision: o['max-create-rev'],
  };
  return { key, opts };
}

export type PutFlagOptions = {
  lease?: string;
  'prev-kv'?: boolean;
  'ignore-value'?: boolean;
  'ignore-lease'?: boolean;
};

export const putArgsMessage = 'put command needs 1 argument and input from stdin or 2 arguments';

/** Parses etcdctl's `--lease` (hexadecimal, as `strconv.ParseInt(s, 16, 64)`). */
export function parseLeaseId(text: string): bigint {
  try {
    return goParseInt(text, 16);
  } catch (err) {
    if (err instanceof GoParseError) throw badArgs(`bad lease ID (${err.message}), expecting ID in Hex`);
    throw err;
  }
}

/**
 * `put <key> <value>`; `value` undefined means "not given" (the command then reads stdin; txn has no stdin to
 * offer). Extra arguments are ignored, as etcdctl does.
 */
export function putSpec(args: readonly Buffer[], o: PutFlagOptions): PutSpec {
  const [key, value] = args;
  if (key === undefined) throw badArgs(putArgsMessage);
  if (o['ignore-value'] && value !== undefined) throw badArgs("put command needs only 1 argument when 'ignore-value' is set");
  if (!o['ignore-value'] && value === undefined) throw badArgs(putArgsMessage);
  const lease = parseLeaseId(o.lease ?? '0');
  return {
    key,
    value: value ?? Buffer.alloc(0),
    opts: { lease, prevKv: o['prev-kv'], ignoreValue: o['ignore-value'], ignoreLease: o['ignore-lease'] },
  };
}

export type DelOptions = { prefix?: boolean; 'from-key'?: boolean; 'prev-kv'?: boolean };

/** `del <key> [range_end]`. */
export function delSpec(args: readonly Buffer[], o: DelOptions): DelSpec {
  const [key, rangeEnd] = args;
  if (key === undefined || args.length > 2) throw badArgs('del command needs one argument as key and an optional argument as range_end');
  if (o.prefix && o['from-key']) throw badArgs('`--prefix` and `--from-key` cannot be set at the same time, choose one');
  if (rangeEnd !== undefined && (o.prefix || o['from-key'])) {
    throw badArgs('too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
  }
  return { key, opts: { rangeEnd, prefix: o.prefix, fromKey: o['from-key'], prevKv: o['prev-kv'] } };
}

/** The txn operation for a spec. */
export const opOf = {
  get: (s: GetSpec): RequestOp => op.range(s.key, s.opts),
  put: (s: PutSpec): RequestOp => op.put(s.key, s.value, s.opts),
  del: (s: DelSpec): RequestOp => op.delete(s.key, s.opts),
} as const;
