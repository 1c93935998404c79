// Human output for the CLI: sizes, rates, durations, aligned tables sized for the terminal, a progress bar.
// Text that came from contacts (share names, JIDs) is untrusted: `clean` strips what a terminal would obey.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; binary units, three significant digits. */
export function formatSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  const text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return `${text} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (bytesPerSecond === null || bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond)) return '-';
  return `${formatSize(Math.round(bytesPerSecond))}/s`;
}

/** 0.4567 → "45.7%"; unknown → "-". Never shows 100% before it is complete. */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '-';
  if (fraction >= 1) return '100%';
  return `${Math.min(Math.floor(fraction * 1000) / 10, 99.9).toFixed(1)}%`;
}

/** Seconds → "45s", "3m05s", "2h07m", "3d04h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** A local timestamp as "2026-11-24 14:02". */
export function formatTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Human tables show hashes abbreviated like git; every command takes a unique prefix, --json has them whole. */
export const SHORT_HASH = 12;

export function shortHash(infoHash: string): string {
  return infoHash.slice(0, SHORT_HASH);
}

/**
 * Replaces control characters (ANSI escapes, newlines, C1 controls) and bidirectional overrides with "?":
 * a contact's share name must not be able to move the cursor, recolour the terminal or reorder a line.
 */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
}

function isWide(code: number): boolean {
  return (
    (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0xa4cf && code !== 0x303f) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd)
  );
}

function isZeroWidth(code: number): boolean {
  return (code >= 0x300 && code <= 0x36f) || code === 0x200b || code === 0x200d || (code >= 0xfe00 && code <= 0xfe0f);
}

/** Columns a string takes in a terminal (wide East Asian characters and emoji count two). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    width += isZeroWidth(code) ? 0 : isWide(code) ? 2 : 1;
  }
  return width;
}

/** Cuts to at most `width` columns, ending in "…" when something was cut. */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  let out = '';
  let used = 0;
  for (const ch of text) {
    const w = displayWidth(ch);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return out + '…';
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/** Terminal width: the tty's, else $COLUMNS, else unlimited (output piped to a file or a script). */
export function terminalWidth(stream: NodeJS.WriteStream = process.stdout): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : Infinity;
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  align?: 'left' | 'right';
  /** Columns that shrink (with "…"), widest first, when the table is wider than the terminal. */
  flex?: boolean;
  /** The flexible column never gets narrower than this. */
  minWidth?: number;
}

/** An aligned table, two spaces between columns, no trailing blanks. */
export function table<T>(rows: T[], columns: Column<T>[], width = terminalWidth()): string {
  const cells = rows.map((row) => columns.map((c) => clean(c.value(row))));
  const widths = columns.map((c, i) => Math.max(displayWidth(c.header), ...cells.map((r) => displayWidth(r[i]!))));
  const total = widths.reduce((a, b) => a + b, 0) + 2 * (columns.length - 1);
  // Too wide: shrink the widest flexible column, one column of text at a time, down to its minimum.
  const mins = columns.map((c) => (c.flex ? Math.max(c.minWidth ?? 10, displayWidth(c.header)) : Infinity));
  for (let over = total - width; over > 0; over--) {
    let widest = -1;
    widths.forEach((w, i) => {
      if (w > mins[i]! && (widest < 0 || w > widths[widest]!)) widest = i;
    });
    if (widest < 0) break;
    widths[widest]!--;
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const text = columns[i]!.flex ? truncate(v, widths[i]!) : v;
        return i === values.length - 1 && columns[i]!.align !== 'right' ? text : pad(text, widths[i]!, columns[i]!.align ?? 'left');
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

export interface ProgressView {
  name: string;
  done: number;
  total: number | null;
  /** bytes per second, smoothed */
  rate: number | null;
  peers?: number | null;
}

/**
 * One line: `holiday  [#########-----------]  45.7%  1.20 GiB/2.63 GiB  5.10 MiB/s  ETA 4m47s  3 peers`,
 * fitted to `width` (the bar shrinks first, then the name).
 */
export function progressLine(p: ProgressView, width: number): string {
  const fraction = p.total ? p.done / p.total : null;
  const eta = p.total && p.rate && p.rate > 0 ? (p.total - p.done) / p.rate : null;
  const parts = [
    p.total === null ? 'fetching metadata' : formatPercent(fraction).padStart(6),
    p.total === null ? '' : `${formatSize(p.done)}/${formatSize(p.total)}`,
    formatRate(p.rate ?? null),
    p.total === null ? '' : `ETA ${eta === null ? '-' : formatDuration(eta)}`,
    p.peers === undefined || p.peers === null ? '' : `${p.peers} peer${p.peers === 1 ? '' : 's'}`,
  ].filter((s) => s !== '');
  const tail = parts.join('  ');
  const limit = Number.isFinite(width) ? width - 1 : 100; // never touch the last column: some terminals wrap there
  const name = clean(p.name);
  let barWidth = Math.min(30, limit - displayWidth(tail) - Math.min(displayWidth(name), 20) - 6);
  if (barWidth < 5) barWidth = 0;
  let bar = '';
  if (barWidth > 0) {
    const filled = fraction === null ? 0 : Math.floor(Math.min(1, fraction) * barWidth);
    bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
  }
  const nameWidth = Math.max(0, limit - displayWidth(tail) - (bar ? bar.length + 2 : 0) - 2);
  return [truncate(name, nameWidth), bar, tail].filter((s) => s !== '').join('  ').slice(0, Math.max(limit, 0));
}

/** camelCase or snake_case fact names as words: "listenPort" → "listen port". */
export function words(key: string): string {
  return key.replace(/_/g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

/** A heartbeat fact as short text; rates and byte counts by their names. */
export function formatFact(key: string, value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'number') {
    if (/rate|speed/i.test(key)) return formatRate(value);
    if (/bytes|size/i.test(key)) return formatSize(value);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') {
    // ISO timestamps (heartbeat facts such as a mapping's expiry) in local time, like `since`.
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(value)) return formatTime(new Date(value));
    return clean(value);
  }
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((v) => formatFact(key, v)).join(', ');
  return clean(JSON.stringify(value));
}

/** Stable JSON for scripts: two-space indent, one trailing newline. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
