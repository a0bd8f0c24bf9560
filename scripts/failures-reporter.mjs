// A node:test reporter that prints nothing while the tests run and, at the end, every failed test again:
// its file, its name and its error. CI keeps only the tail of a long TAP stream, and a failure in the
// middle of 1200 tests is otherwise out of sight. run-tests.mjs adds it beside the TAP reporter.
import { relative } from 'node:path';

/** The first lines of an error, enough to say what failed without the whole stack. */
function describe(error) {
  const cause = error?.cause ?? error;
  // An Error's stack starts with its name and message.
  const text = cause instanceof Error ? (cause.stack ?? `${cause.name}: ${cause.message}`) : String(cause);
  return text.split('\n').slice(0, 16).map((line) => `    ${line}`).join('\n');
}

export default async function* failuresReporter(source) {
  const failures = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    // A suite fails when a test in it does; its own entry says only "N subtests failed".
    if (details?.error?.failureType === 'subtestsFailed') continue;
    failures.push({ name, file: file ? relative(process.cwd(), file) : '(unknown file)', error: details?.error });
  }
  if (failures.length === 0) return;
  yield `\n# ${failures.length} failed:\n`;
  for (const { name, file, error } of failures) yield `# not ok: ${file} > ${name}\n${describe(error)}\n`;
}
