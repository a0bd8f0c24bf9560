/**
 * etcdctl's txn syntax (`etcdctl txn`, read from stdin):
 *
 *     mod("key1") > "0"            compares, one per line: TARGET("key") OP "value"
 *     value("key2") = "v"            TARGET: version|ver, create|c, mod|m, value|val, lease (hex id)
 *                                    OP: = (or ==), !=, <, >
 *     <blank line>
 *     put key1 "overwrote-key1"    success operations: get/put/del lines with their command flags
 *     get key2 --prefix
 *     <blank line>
 *     del key3                     failure operations
 *     <blank line>
 *
 * Keys and values are Go quoted strings in compares (`"a\x00b"`, or back-quoted raw strings); operation lines are
 * split like a shell line, with `"double"` (Go escapes) and `'single'` quoting.
 *
 * Errors carry etcdctl's texts and exit codes (3, invalid input; 128 for the checks shared with get/put/del).
 * Two deliberate differences: the end of the input also ends a section (etcdctl fails with `Error: EOF` unless
 * every section, the last included, ends with a blank line), and a single-quoted argument loses only its quotes
 * (etcdctl 3.4 cuts it by the number of arguments on the line, a known bug).
 */
import { type Compare, type CompareTarget, type RequestOp, compare, isCompareOp } from '../client/index.js';
import { CtlError } from './ctl-error.js';
import { ExitCode } from './exit-codes.js';
import { GoParseError, goParseInt, goQuote, scanGoQuoted } from '../base/go-format.js';
import { type DelOptions, type GetOptions, type PutFlagOptions, delSpec, getSpec, opOf, putSpec } from './kv-options.js';

export type TxnSpec = { compares: Compare[]; success: RequestOp[]; failure: RequestOp[] };

/** The prompts `txn -i` prints before each section, as etcdctl does. */
export const txnPrompts = ['compares:', 'success requests (get, put, del):', 'failure requests (get, put, del):'] as const;

const invalid = (message: string): CtlError => new CtlError(message, ExitCode.ExitInvalidInput);

const compareTargets: Readonly<Record<string, CompareTarget>> = {
  ver: 'VERSION',
  version: 'VERSION',
  c: 'CREATE',
  create: 'CREATE',
  m: 'MOD',
  mod: 'MOD',
  val: 'VALUE',
  value: 'VALUE',
  lease: 'LEASE',
};

/** One compare line (already trimmed), e.g. `mod("k") > "0"`. */
export function parseCompare(line: string): Compare {
  const paren = line.indexOf('(');
  if (paren < 0) throw invalid(`malformed comparison: ${line}`);
  const target = line.slice(0, paren);

  // fmt.Sscanf(rest, "%q) %s %q", &key, &op, &val): count the items read to report a partial parse as etcdctl does.
  let rest = line.slice(paren + 1);
  let key: Buffer = Buffer.alloc(0);
  let op = '';
  let val: Buffer = Buffer.alloc(0);
  let n = 0;
  const k = scanGoQuoted(rest.trimStart());
  if (k !== undefined) {
    key = k.value;
    n = 1;
    rest = k.rest;
    if (rest.startsWith(')')) {
      const o = /^\s*(\S+)/.exec(rest.slice(1));
      if (o) {
        op = o[1] ?? '';
        n = 2;
        const v = scanGoQuoted(rest.slice(1 + o[0].length).trimStart());
        if (v !== undefined) {
          val = v.value;
          n = 3;
        }
      }
    }
  }
  if (n !== 3) throw invalid(`malformed comparison: ${line}; got ${target}(${goQuote(key)}) ${op} ${goQuote(val)}`);

  const t = compareTargets[target];
  if (t === undefined) throw invalid(`malformed comparison: ${line} (unknown target ${target})`);
  let number = 0n;
  if (t !== 'VALUE') {
    try {
      number = goParseInt(val.toString('utf8'), t === 'LEASE' ? 16 : 10);
    } catch (err) {
      if (err instanceof GoParseError) throw invalid(`invalid txn compare request: ${line}`);
      throw err;
    }
  }
  if (!isCompareOp(op)) throw invalid(`invalid txn compare request: ${line} (unknown comparison operator ${op})`);
  return t === 'VALUE' ? compare('VALUE', key, op, val) : compare(t, key, op, number);
}

/**
 * Splits an operation line into arguments: whitespace separated, `"..."` read as a Go quoted string (bytes),
 * `'...'` taken literally.
 */
export function argify(line: string): Buffer[] {
  const args: Buffer[] = [];
  let s = line.trimStart();
  while (s !== '') {
    if (s.startsWith('"')) {
      const q = scanGoQuoted(s);
      if (q === undefined) throw invalid(`invalid txn request: ${line} (unterminated or malformed quoted string)`);
      args.push(q.value);
      s = q.rest;
    } else if (s.startsWith("'")) {
      const end = s.indexOf("'", 1);
      if (end < 0) throw invalid(`invalid txn request: ${line} (unterminated quoted string)`);
      args.push(Buffer.from(s.slice(1, end), 'utf8'));
      s = s.slice(end + 1);
    } else {
      const word = /^\S+/.exec(s)?.[0] ?? '';
      args.push(Buffer.from(word, 'utf8'));
      s = s.slice(word.length);
    }
    s = s.trimStart();
  }
  return args;
}

type FlagKind = 'bool' | 'string' | 'int';
type FlagValues = Record<string, boolean | string | bigint>;

const getFlagKinds: Readonly<Record<string, FlagKind>> = {
  prefix: 'bool',
  'from-key': 'bool',
  limit: 'int',
  rev: 'int',
  order: 'string',
  'sort-by': 'string',
  consistency: 'string',
  'keys-only': 'bool',
  'count-only': 'bool',
  'print-value-only': 'bool',
  'min-mod-rev': 'int',
  'max-mod-rev': 'int',
  'min-create-rev': 'int',
  'max-create-rev': 'int',
};
const putFlagKinds: Readonly<Record<string, FlagKind>> = { lease: 'string', 'prev-kv': 'bool', 'ignore-value': 'bool', 'ignore-lease': 'bool' };
const delFlagKinds: Readonly<Record<string, FlagKind>> = { prefix: 'bool', 'from-key': 'bool', 'prev-kv': 'bool' };

const boolWords: Readonly<Record<string, boolean>> = {
  '1': true, t: true, T: true, true: true, TRUE: true, True: true,
  '0': false, f: false, F: false, false: false, FALSE: false, False: false,
};

/** pflag-style parsing: `--flag`, `--flag=value`, `--flag value`, `--` ends the flags. Undefined on any error. */
function parseFlags(tokens: readonly Buffer[], kinds: Readonly<Record<string, FlagKind>>): { args: Buffer[]; flags: FlagValues } | undefined {
  const args: Buffer[] = [];
  const flags: FlagValues = {};
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] ?? Buffer.alloc(0);
    const text = tok.toString('utf8');
    if (text === '--') {
      args.push(...tokens.slice(i + 1));
      break;
    }
    if (!text.startsWith('-') || text === '-') {
      args.push(tok);
      continue;
    }
    if (!text.startsWith('--')) return undefined;
    const eq = text.indexOf('=');
    const name = eq < 0 ? text.slice(2) : text.slice(2, eq);
    const kind = kinds[name];
    if (kind === undefined) return undefined;
    let value: string | undefined = eq < 0 ? undefined : text.slice(eq + 1);
    if (kind === 'bool') {
      const b = value === undefined ? true : boolWords[value];
      if (b === undefined) return undefined;
      flags[name] = b;
      continue;
    }
    if (value === undefined) {
      const next = tokens[++i];
      if (next === undefined) return undefined;
      value = next.toString('utf8');
    }
    if (kind === 'int') {
      try {
        flags[name] = goParseInt(value, 10);
      } catch {
        return undefined;
      }
    } else {
      flags[name] = value;
    }
  }
  return { args, flags };
}

/** One operation line: `get ...`, `put ...` or `del ...` with the commands' arguments and flags. */
export function parseOp(line: string): RequestOp {
  const tokens = argify(line);
  if (tokens.length < 2) throw invalid(`invalid txn compare request: ${line}`);
  const [cmd, ...rest] = tokens;
  const command = cmd?.toString('utf8');
  const kinds = command === 'get' ? getFlagKinds : command === 'put' ? putFlagKinds : command === 'del' ? delFlagKinds : undefined;
  const parsed = kinds === undefined ? undefined : parseFlags(rest, kinds);
  if (parsed === undefined) throw invalid(`invalid txn request: ${line}`);
  const { args, flags } = parsed;
  if (command === 'get') return opOf.get(getSpec(args, flags as GetOptions));
  // The flag tables above give each name its kind, so the values have the types these options declare.
  if (command === 'put') return opOf.put(putSpec(args, flags as PutFlagOptions));
  return opOf.del(delSpec(args, flags as DelOptions));
}

/**
 * Reads the three sections from a line source (`undefined`: end of input). `prompt` is called before each
 * section (interactive mode prints etcdctl's prompts there).
 */
export async function readTxn(nextLine: () => Promise<string | undefined>, prompt: (text: string) => void = () => {}): Promise<TxnSpec> {
  let ended = false;
  const section = async <T>(title: string, parse: (line: string) => T): Promise<T[]> => {
    prompt(title);
    const items: T[] = [];
    while (!ended) {
      const raw = await nextLine();
      if (raw === undefined) {
        ended = true;
        break;
      }
      const line = raw.trim();
      if (line === '') break;
      items.push(parse(line));
    }
    return items;
  };
  const compares = await section(txnPrompts[0], parseCompare);
  const success = await section(txnPrompts[1], parseOp);
  const failure = await section(txnPrompts[2], parseOp);
  return { compares, success, failure };
}

/** Parses a whole txn text (what `kvctl txn` reads from a pipe). */
export function parseTxn(text: string): Promise<TxnSpec> {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let i = 0;
  return readTxn(async () => lines[i++]);
}
