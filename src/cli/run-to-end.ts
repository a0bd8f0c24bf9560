/**
 * Node ends a process whose event loop has nothing left (no socket, timer or child that could settle a
 * promise) even while a command is still awaiting: the exit code is 13 and nothing is printed. That is always
 * a kvctl bug, one the operator could otherwise take for success or for a silent failure; this says so.
 */

/** Unfinished-command exit code of node (an unsettled top-level await). */
const unsettledExitCode = 13;

/** Awaits `command`; if the process exits before it settles, tells the operator on stderr. */
export async function runToEnd(command: Promise<unknown>): Promise<void> {
  let settled = false;
  const onExit = (code: number) => {
    // Node 20 passes 0 here and has set process.exitCode to 13 already.
    if (settled || (code !== unsettledExitCode && process.exitCode !== unsettledExitCode)) return;
    process.stderr.write(
      `kvctl: the command stopped before it finished (exit code ${unsettledExitCode}: nothing was left for it to wait on). ` +
        `This is a bug in kvctl: what it did may be incomplete, so check the result (e.g. kvctl cluster status) and ` +
        'report it with the command you ran\n',
    );
  };
  process.on('exit', onExit);
  try {
    await command;
  } finally {
    settled = true;
    process.off('exit', onExit);
  }
}
