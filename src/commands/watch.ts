import { Flags } from '@oclif/core';

import {
  ClientError,
  type KeyValue,
  type Watch as ClientWatch,
  type WatchEvent,
  type WatchOptions,
  type WatchResponse,
  WatchSession,
} from '../client/index.js';
import { type ClientFlags, ClientCommand, hexFlag, int64Flag } from '../cli/client-command.js';
import { CtlError } from '../cli/ctl-error.js';
import { ExitCode } from '../cli/exit-codes.js';
import { GoParseError, goParseInt, goQuote, scanGoQuoted } from '../base/go-format.js';
import { keyRangeArgs } from '../cli/kv-options.js';
import { type WriteOut, jsonHeader, jsonKv, obj, tableNotSupported } from '../cli/output.js';
import { stdinLines } from '../cli/stdin.js';

/** What the command ends with; it never ends on its own but through an error (the server canceled) or a signal. */
export type WatchResult = { readonly canceled: true };

type WatchFlags = { prefix: boolean; rev: bigint | undefined; 'prev-kv': boolean };

const badArgs = (message: string): CtlError => new CtlError(message, ExitCode.ExitBadArgs);
const rangeAndPrefix = '`range_end` and `--prefix` are mutually exclusive';

export default class Watch extends ClientCommand<WatchResult> {
  static override summary = 'Watches events stream on keys or prefixes';

  static override description = [
    'Prints every change to <key> (or the keys in [key, range_end), or with --prefix every key that starts with <key>) as it happens, like etcdctl watch, until interrupted (Ctrl-C). --rev starts at an older revision and replays the history from there; --prev-kv adds the value before each change.',
    'Output (as etcdctl 3.4): simple prints PUT or DELETE, then the key and the value (with --prev-kv the previous key and value first); -w json (or --json) one WatchResponse object per line as etcdctl prints it; -w fields the header and each event field by field.',
    'A watch the server cancels (its --rev was compacted) prints "watch was canceled (...)" on stderr and exits with code 5. -i reads commands from stdin: "watch [options] <key> [range_end]" adds a watch on the same stream, "progress" asks for a progress notification.',
  ].join('\n\n');

  static override usage = '<%= command.id %> [options] <key> [range_end] [flags]';

  static override examples = [
    '<%= config.bin %> <%= command.id %> foo',
    '<%= config.bin %> <%= command.id %> --prefix /app/ --prev-kv',
    '<%= config.bin %> <%= command.id %> foo --rev 1 -w json',
    'printf "watch foo\\nwatch --prefix /app/\\n" | <%= config.bin %> <%= command.id %> -i',
  ];

  // etcdctl ignores arguments after range_end; keep that.
  static override strict = false;

  static override args = keyRangeArgs;

  static override flags = {
    hex: hexFlag,
    interactive: Flags.boolean({ char: 'i', description: 'Interactive mode', default: false }),
    prefix: Flags.boolean({ description: 'Watch on a prefix if prefix is set', default: false }),
    rev: int64Flag('Revision to start watching'),
    'prev-kv': Flags.boolean({ description: 'get the previous key-value pair before the event happens', default: false }),
  };

  async run(): Promise<WatchResult> {
    const { argv, flags } = await this.parse(Watch);
    const w = this.writeOut(flags);
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    if (this.argv.includes('--')) {
      throw new CtlError('running a command for each event (watch ... -- <command>) is not supported', ExitCode.ExitBadFeature);
    }
    const format = w;
    const print = (r: WatchResponse, synthesized: boolean): void => {
      process.stdout.write(printWatch(format, r, { hex: flags.hex, synthesized }));
    };
    if (flags.interactive) return this.interactive(flags, print);

    const args = (argv as string[]).map((a) => Buffer.from(a, 'utf8'));
    const [key, rangeEnd] = args;
    if (key === undefined) throw badArgs('bad number of arguments');
    if (rangeEnd !== undefined && flags.prefix) throw badArgs(rangeAndPrefix);
    const client = await this.connect(flags);
    const session = await WatchSession.open(client);
    try {
      await this.follow(session.watch(key, watchOptions(rangeEnd, flags)), print);
    } finally {
      session.close();
    }
    throw new CtlError('watch is canceled by the server', ExitCode.ExitInterrupted);
  }

  protected jsonOf(result: WatchResult): string {
    return `{"canceled":${result.canceled}}`;
  }

  /** `-i`: commands from stdin, every watch on one stream; ends at end of input, as etcdctl does. */
  private async interactive(flags: ClientFlags, print: (r: WatchResponse, s: boolean) => void): Promise<WatchResult> {
    const client = await this.connect(flags);
    const session = await WatchSession.open(client);
    const lines = stdinLines();
    try {
      for (let line = await lines.next(); line !== undefined; line = await lines.next()) {
        const args = argify(line);
        const [command] = args;
        if (command === undefined) {
          this.stderr(`Invalid command: ${line} (watch and progress supported)`);
        } else if (command === 'watch') {
          if (args.length < 2) {
            this.stderr(`Invalid command ${line} (command type or key is not provided)`);
            continue;
          }
          const parsed = parseWatchLine(args.slice(1));
          const [key, rangeEnd] = parsed.args.map((a) => Buffer.from(a, 'utf8'));
          if (key === undefined) throw badArgs('bad number of arguments');
          if (rangeEnd !== undefined && parsed.flags.prefix) {
            this.stderr(`Invalid command ${line} (${rangeAndPrefix})`);
            continue;
          }
          void this.follow(session.watch(key, watchOptions(rangeEnd, parsed.flags)), print);
        } else if (command === 'progress') {
          session.requestProgress();
        } else {
          this.stderr(`Invalid command ${line} (only support watch)`);
        }
      }
    } finally {
      lines.close();
      session.close();
    }
    throw new CtlError('Error reading watch request line: EOF', ExitCode.ExitInvalidInput);
  }

  /** Prints one watch's responses until it ends (etcdctl's printWatchCh). */
  private async follow(watch: ClientWatch, print: (r: WatchResponse, synthesized: boolean) => void): Promise<void> {
    try {
      for await (const r of watch) {
        // A create the server refused: clientv3 hands over a response of its own making.
        const refused = r.created && r.canceled;
        if (r.canceled) this.stderr(`watch was canceled (${cancelError(r)})`);
        if (isProgressNotify(r)) process.stdout.write(`progress notify: ${r.header?.revision ?? 0n}\n`);
        print(r, refused);
      }
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      // The stream failed: clientv3 closes the watch with that error.
      this.stderr(`watch was canceled (${err.message})`);
    }
  }

  private stderr(line: string): void {
    process.stderr.write(`${line}\n`);
  }
}

function watchOptions(rangeEnd: Buffer | undefined, f: WatchFlags): WatchOptions {
  // etcdctl passes --rev as is (a negative one is refused by the server as compacted).
  return { rangeEnd, prefix: f.prefix, startRevision: f.rev ?? 0n, prevKv: f['prev-kv'] };
}

/** clientv3's WatchResponse.Err() text for a canceled response. */
function cancelError(r: WatchResponse): string {
  if (r.compactRevision !== 0n) return 'etcdserver: mvcc: required revision has been compacted';
  if (r.cancelReason !== '') return r.cancelReason;
  return 'etcdserver: mvcc: required revision is a future revision';
}

/** clientv3's IsProgressNotify. */
function isProgressNotify(r: WatchResponse): boolean {
  return r.events.length === 0 && !r.canceled && !r.created && r.compactRevision === 0n && (r.header?.revision ?? 0n) !== 0n;
}

// ---------------------------------------------------------------- interactive lines

/** etcdctl's Argify: words, "double-quoted" (Go escapes) and 'single-quoted' strings. */
export function argify(line: string): string[] {
  const re = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?/g;
  const out: string[] = [];
  for (const m of line.matchAll(re)) {
    const t = m[0];
    if (t.startsWith("'")) out.push(t.slice(1, -1));
    else if (t.startsWith('"')) {
      const q = scanGoQuoted(t);
      if (q === undefined) throw new CtlError(`bad quoted string ${t}`, ExitCode.ExitInvalidInput);
      out.push(q.value.toString('utf8'));
    } else out.push(t);
  }
  return out;
}

const goBools: Readonly<Record<string, boolean>> = {
  1: true, t: true, T: true, TRUE: true, true: true, True: true,
  0: false, f: false, F: false, FALSE: false, false: false, False: false,
};

/** The flags of one interactive `watch` line, as pflag parses them (flags and arguments in any order). */
export function parseWatchLine(tokens: readonly string[]): { args: string[]; flags: WatchFlags } {
  const flags: WatchFlags = { prefix: false, rev: undefined, 'prev-kv': false };
  const args: string[] = [];
  const bool = (name: string, value: string | undefined): boolean => {
    if (value === undefined) return true;
    const b = goBools[value];
    if (b === undefined) throw badArgs(`invalid argument ${goQuote(value)} for "--${name}" flag: strconv.ParseBool: parsing ${goQuote(value)}: invalid syntax`);
    return b;
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (t === '--') break; // what follows is an exec command, which the interactive mode does not run
    if (t.startsWith('--')) {
      const eq = t.indexOf('=');
      const name = eq < 0 ? t.slice(2) : t.slice(2, eq);
      const value = eq < 0 ? undefined : t.slice(eq + 1);
      if (name === 'prefix') flags.prefix = bool(name, value);
      else if (name === 'prev-kv') flags['prev-kv'] = bool(name, value);
      else if (name === 'interactive') bool(name, value);
      else if (name === 'rev') {
        const v = value ?? tokens[++i];
        if (v === undefined) throw badArgs('flag needs an argument: --rev');
        try {
          flags.rev = goParseInt(v, 10);
        } catch (err) {
          if (err instanceof GoParseError) throw badArgs(`invalid argument ${goQuote(v)} for "--rev" flag: ${err.message}`);
          throw err;
        }
      } else throw badArgs(`unknown flag: --${name}`);
    } else if (t.startsWith('-') && t.length > 1) {
      for (const c of t.slice(1)) if (c !== 'i') throw badArgs(`unknown shorthand flag: '${c}' in ${t}`);
    } else {
      args.push(t);
    }
  }
  return { args, flags };
}

// ---------------------------------------------------------------- output (etcdctl 3.4's watch printers)

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => `\\x${x.toString(16).padStart(2, '0')}`).join('');
}

function eventType(ev: WatchEvent): string {
  return ev.type === 0 ? 'PUT' : ev.type === 1 ? 'DELETE' : String(ev.type);
}

function jsonEvent(ev: WatchEvent): string {
  return obj([
    ['type', ev.type === 0 ? undefined : String(ev.type)],
    ['kv', jsonKv(ev.kv)],
    ['prev_kv', jsonKv(ev.prevKv)],
  ]);
}

/**
 * etcdctl's `-w json` line: Go's encoding of clientv3's WatchResponse (exported struct fields, none omitted;
 * the header and events as protobuf JSON with omitempty). A refused create comes out as clientv3 reports it:
 * an empty header and null events.
 */
export function jsonWatch(r: WatchResponse, synthesized = false): string {
  const header = synthesized ? '{}' : (jsonHeader(r.header) ?? '{}');
  const events = synthesized ? 'null' : `[${r.events.map(jsonEvent).join(',')}]`;
  const compact = synthesized ? 0n : r.compactRevision;
  return `{"Header":${header},"Events":${events},"CompactRevision":${compact},"Canceled":${r.canceled},"Created":false}`;
}

function fieldsKv(lines: string[], prefix: string, kv: KeyValue): void {
  lines.push(`"${prefix}Key" : ${goQuote(kv.key)}`);
  lines.push(`"${prefix}CreateRevision" : ${kv.createRevision}`);
  lines.push(`"${prefix}ModRevision" : ${kv.modRevision}`);
  lines.push(`"${prefix}Version" : ${kv.version}`);
  lines.push(`"${prefix}Value" : ${goQuote(kv.value)}`);
  lines.push(`"${prefix}Lease" : ${kv.lease}`);
}

/** The bytes etcdctl prints for one watch response in format `w`. */
export function printWatch(w: Exclude<WriteOut, 'table'>, r: WatchResponse, opts: { hex?: boolean; synthesized?: boolean } = {}): Buffer {
  if (w === 'json') return Buffer.from(`${jsonWatch(r, opts.synthesized)}\n`, 'utf8');
  if (w === 'fields') {
    const h = opts.synthesized ? undefined : r.header;
    const lines = [
      `"ClusterID" : ${h?.clusterId ?? 0n}`,
      `"MemberID" : ${h?.memberId ?? 0n}`,
      `"Revision" : ${h?.revision ?? 0n}`,
      `"RaftTerm" : ${h?.raftTerm ?? 0n}`,
    ];
    for (const ev of r.events) {
      lines.push(`"Type" : ${eventType(ev)}`);
      if (ev.prevKv !== undefined) fieldsKv(lines, 'Prev', ev.prevKv);
      if (ev.kv !== undefined) fieldsKv(lines, '', ev.kv);
    }
    return Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
  }
  const chunks: Buffer[] = [];
  const line = (b: string | Uint8Array): void => {
    chunks.push(typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b), Buffer.from('\n'));
  };
  const kvLines = (kv: KeyValue): void => {
    line(opts.hex ? hexBytes(kv.key) : kv.key);
    line(opts.hex ? hexBytes(kv.value) : kv.value);
  };
  for (const ev of r.events) {
    line(eventType(ev));
    if (ev.prevKv !== undefined) kvLines(ev.prevKv);
    if (ev.kv !== undefined) kvLines(ev.kv);
  }
  return Buffer.concat(chunks);
}
