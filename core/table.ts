// The one plain-text table of the command line (`run`'s stage table, `runs`, the `--seeds`
// summary): a header, a rule of dashes, one line per row; columns padded to their widest cell and
// separated by two spaces; trailing blanks trimmed.

export function formatTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}
