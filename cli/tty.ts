// A transient status line on stderr (the progress bar, "hashing …"): redrawn in place on a terminal,
// silent when stderr is a pipe or a file, so logs and scripts see only the final result.

export interface StatusLine {
  readonly live: boolean;
  show(text: string): void;
  clear(): void;
}

export function statusLine(stream: NodeJS.WriteStream = process.stderr): StatusLine {
  const live = Boolean(stream.isTTY);
  let shown = false;
  return {
    live,
    show(text) {
      if (!live) return;
      stream.write(`\r\x1b[K${text}`);
      shown = true;
    },
    clear() {
      if (!live || !shown) return;
      stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
