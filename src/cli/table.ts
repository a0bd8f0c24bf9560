/**
 * Plain-text tables for human output: columns padded to their widest cell, an optional header underlined
 * with dashes. Cells are strings; numbers are right-aligned when every cell of a column looks numeric.
 */
export function renderTable(rows: readonly (readonly string[])[], header?: readonly string[]): string {
  const all = header === undefined ? rows : [header, ...rows];
  const widths: number[] = [];
  const numeric: boolean[] = [];
  for (const row of all) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  rows.forEach((row) =>
    row.forEach((cell, i) => {
      numeric[i] = (numeric[i] ?? true) && /^-?[\d.,]+%?$/.test(cell);
    }),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  if (header !== undefined) {
    out.push(line(header));
    out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  for (const row of rows) out.push(line(row));
  return out.join('\n');
}
