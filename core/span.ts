// Source positions: every AST node and every diagnostic points into a file with a Span.

/** A position in a source file. line and col are 1-based; offset is 0-based (UTF-16 units). */
export interface Pos {
  line: number;
  col: number;
  offset: number;
}

/** A half-open source range [start, end) in one file. `file` is the path as the user gave it / as resolved relative to cwd. */
export interface Span {
  file: string;
  start: Pos;
  end: Pos;
}
