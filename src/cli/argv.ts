/**
 * etcdctl takes its global flags before or after the command (`etcdctl --endpoints=a:2379 get k`);
 * oclif wants the command first. Operators type the etcdctl order from habit and from runbooks, so the
 * entry points move leading global flags behind the command words before oclif parses.
 */

/** Global flags of kvctl's client commands that take a value (as `--flag value` or `--flag=value`). */
const VALUED = new Set([
  '--endpoints',
  '--dial-timeout',
  '--command-timeout',
  '-w',
  '--write-out',
  '--user',
  '--password',
  '--cacert',
  '--cert',
  '--key',
  '-d',
  '--discovery-srv',
  '--discovery-srv-name',
  '--insecure-discovery',
  '--dns-server',
]);
/** Global boolean flags. */
const BOOLEAN = new Set(['--hex', '--json', '--insecure-skip-tls-verify']);

/**
 * etcdctl's boolean flags that default to true and are turned off with `=false` (`--insecure-discovery`):
 * alone, they mean true; kvctl reads them as valued flags, so the bare form gets `=true`.
 */
const TRUE_BY_DEFAULT = new Set(['--insecure-discovery']);

export function moveLeadingGlobalFlags(given: readonly string[]): string[] {
  const argv = given.map((arg) => (TRUE_BY_DEFAULT.has(arg) ? `${arg}=true` : arg));
  const moved: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] as string;
    const name = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    if (VALUED.has(name)) {
      if (arg.includes('=') || i + 1 >= argv.length) {
        moved.push(arg);
        i += 1;
      } else {
        moved.push(arg, argv[i + 1] as string);
        i += 2;
      }
    } else if (BOOLEAN.has(arg)) {
      moved.push(arg);
      i += 1;
    } else {
      break;
    }
  }
  if (moved.length === 0 || i >= argv.length) return argv;
  // The command words (a topic and its command, e.g. `endpoint status`) come first, then the flags.
  const rest = argv.slice(i);
  let words = 0;
  while (words < rest.length && /^[a-z][a-z-]*$/.test(rest[words] as string) && words < 2) words += 1;
  return [...rest.slice(0, words), ...moved, ...rest.slice(words)];
}
