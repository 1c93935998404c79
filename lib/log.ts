// One pino logger per service, each line naming the service. Two formats (BITWEEN_LOG_FORMAT):
// - json: one pino JSON object per line, for machines (log shippers, jq, the tests);
// - pretty: one levelled line for people: local time, level, service, message, then the other fields as
//   key=value, and an error's stack on indented lines below.
// `auto` (the default) is pretty when stdout is a terminal and json otherwise, so pm2's log files stay JSON
// (`bitween logs` shows them pretty) and a service run by hand in a terminal reads well.
// The pretty lines are formatted here, in the same thread, as pino writes them: no transport worker thread
// (pino-pretty as a transport costs a worker and its heap in every service).
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** What `auto` means for this process: pretty on a terminal, json into a pipe or file (pm2, tests). */
export function resolveLogFormat(format: LogFormat, isTTY = process.stdout.isTTY === true): 'pretty' | 'json' {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
}

export function createLogger(service: string, level = 'info', format: LogFormat = 'auto'): Logger {
  const options = { name: `bitween-${service}`, level, base: { service, pid: process.pid } };
  if (resolveLogFormat(format) === 'json') return pino(options);
  return pino(options, prettyStream(pino.destination({ dest: 1, sync: true }), useColor(process.stdout)));
}

/** A pino destination that writes each JSON line as a pretty one to `out`. */
function prettyStream(out: DestinationStream & { flush?(cb?: (err?: Error) => void): void }, color: boolean): DestinationStream & { flush(cb?: () => void): void } {
  return {
    write(chunk: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(chunk) as Record<string, unknown>;
      } catch {
        out.write(chunk); // pino writes only JSON; should it not, the line is kept as it is
        return;
      }
      out.write(formatRecord(record, color) + '\n');
    },
    flush(cb?: () => void) {
      if (out.flush) out.flush(cb);
      else cb?.();
    },
  };
}

/** Colours only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function useColor(stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}

const LEVELS: Record<number, [name: string, color: string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO', '\x1b[32m'],
  40: ['WARN', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[1;31m'],
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** Fields every line has, shown in the fixed columns (or left out: pid, hostname). */
const FIXED = new Set(['level', 'time', 'msg', 'service', 'name', 'pid', 'hostname', 'err']);

/**
 * One pino record as a person reads it: `2026-11-30 20:50:01.123 INFO  torrent message  key=value …`, an error's
 * stack on indented lines below. (cli/logs.ts shows pm2's log files with it.)
 */
export function formatRecord(record: Record<string, unknown>, color = false): string {
  const [levelName, levelColor] = LEVELS[record.level as number] ?? [`L${String(record.level)}`, ''];
  const time = typeof record.time === 'number' ? localTime(new Date(record.time)) : '-';
  const service = typeof record.service === 'string' ? record.service : String(record.name ?? '-').replace(/^bitween-/, '');
  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    // `name` is pino's (bitween-<service>) unless a call logged its own (a torrent's name) over it.
    if (key === 'name' ? value !== `bitween-${service}` : !FIXED.has(key) && value !== undefined) fields.push(`${key}=${fieldValue(value)}`);
  }
  const err = record.err as { message?: unknown; stack?: unknown; code?: unknown } | undefined;
  let stack = '';
  if (err && typeof err === 'object') {
    if (err.code !== undefined) fields.push(`code=${fieldValue(err.code)}`);
    if (typeof err.stack === 'string') stack = '\n' + err.stack.split('\n').map((l) => `    ${l}`).join('\n');
    else fields.push(`err=${fieldValue(err.message ?? err)}`);
  }
  const msg = typeof record.msg === 'string' ? record.msg : '';
  const level = levelName.padEnd(5);
  const head = color
    ? `${DIM}${time}${RESET} ${levelColor}${level}${RESET} ${service.padEnd(7)}`
    : `${time} ${level} ${service.padEnd(7)}`;
  return `${head} ${msg}${fields.length ? '  ' + fields.join(' ') : ''}${stack}`;
}

/** `2026-11-30 20:50:01.123` in the machine's time zone, as pm2's own dates are. */
export function localTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A bare word when it is one, JSON otherwise (quotes, spaces, objects), so a field reads back unambiguously. */
function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}
