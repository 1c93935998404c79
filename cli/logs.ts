// `bitween logs [service] [-f] [--lines N]`: the services' logs as pm2 wrote them, for people. pm2 keeps one
// file per app and stream, `$PM2_HOME/logs/bitween-<service>-out.log` and `-error.log` (PM2_HOME defaults to
// ~/.pm2; ecosystem.config.js merges instances into one file and puts pm2's date in front of each line).
// JSON lines (BITWEEN_LOG_FORMAT json or auto under pm2) are shown as pretty lines; lines already pretty are
// shown as they are; anything else a service wrote (e.g. a configuration error on stderr) gets the date pm2
// gave it and the service's name. `bitween logs` reads the files: it needs no pm2 daemon, Redis or Postgres.
import { existsSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BadInputError, UnavailableError } from '../lib/errors.js';
import { formatRecord, localTime, useColor } from '../lib/log.js';
import { SERVICES, appName, isServiceName, type ServiceName } from '../lib/services.js';

export interface LogsOptions {
  follow?: boolean;
  lines?: number;
}

interface LogFile {
  service: ServiceName;
  stream: 'out' | 'err';
  path: string;
}

/** pm2's folder of log files for this PM2_HOME. */
export function pm2LogDir(env: Record<string, string | undefined> = process.env): string {
  return join(env.PM2_HOME || join(homedir(), '.pm2'), 'logs');
}

export function logFiles(services: readonly ServiceName[], dir = pm2LogDir()): LogFile[] {
  return services.flatMap((service) => [
    { service, stream: 'out' as const, path: join(dir, `${appName(service)}-out.log`) },
    { service, stream: 'err' as const, path: join(dir, `${appName(service)}-error.log`) },
  ]);
}

/** pm2's date in front of a line (`time: true`): local time, to the second. */
const PM2_DATE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?): /;
/** A line lib/log.ts already wrote pretty: it starts with its own local time. */
const PRETTY_TIME = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) /;

export interface ShownLine {
  /** ms since the epoch when known (to order the lines of several files), else undefined. */
  time: number | undefined;
  text: string;
}

/** One line of a pm2 log file of `service`, as a person reads it. */
export function showLine(raw: string, service: string, stream: 'out' | 'err', color = false): ShownLine {
  const dated = PM2_DATE.exec(raw);
  const pm2Time = dated ? new Date(dated[1]!).getTime() : undefined;
  const rest = dated ? raw.slice(dated[0].length) : raw;
  if (rest.startsWith('{')) {
    try {
      const record = JSON.parse(rest) as Record<string, unknown>;
      if (typeof record.level === 'number') {
        return { time: typeof record.time === 'number' ? record.time : pm2Time, text: formatRecord(record, color) };
      }
    } catch {
      // not JSON after all: shown as text below
    }
  }
  const pretty = PRETTY_TIME.exec(rest);
  if (pretty) return { time: new Date(`${pretty[1]}T${pretty[2]}`).getTime(), text: rest };
  const when = pm2Time === undefined ? '-'.padEnd(23) : localTime(new Date(pm2Time));
  return { time: pm2Time, text: `${when} ${stream === 'err' ? 'ERR  ' : 'OUT  '} ${service.padEnd(7)} ${rest}` };
}

/** The last `count` lines of a file, read backwards in chunks (pm2's files grow without bound). */
async function lastLines(path: string, count: number): Promise<{ lines: string[]; size: number }> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    let pos = size;
    let text = '';
    const chunk = 64 * 1024;
    while (pos > 0 && text.split('\n').length <= count + 1) {
      const from = Math.max(0, pos - chunk);
      const buf = Buffer.alloc(pos - from);
      await handle.read(buf, 0, buf.length, from);
      text = buf.toString('utf8') + text;
      pos = from;
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return { lines: count === 0 ? [] : lines.slice(-count), size };
  } finally {
    await handle.close();
  }
}

function parseServices(service: string | undefined): readonly ServiceName[] {
  if (service === undefined) return SERVICES;
  const name = service.replace(/^bitween-/, '');
  if (!isServiceName(name)) throw new BadInputError(`no service ${JSON.stringify(service)}: one of ${SERVICES.join(', ')}`);
  return [name];
}

export async function logsCommand(service: string | undefined, options: LogsOptions, write = (s: string) => process.stdout.write(s)): Promise<void> {
  const files = logFiles(parseServices(service));
  const color = useColor(process.stdout);
  const present = files.filter((f) => existsSync(f.path));
  if (present.length === 0 && !options.follow) {
    throw new UnavailableError(
      `no log files in ${pm2LogDir()} for ${files.map((f) => appName(f.service)).filter((n, i, a) => a.indexOf(n) === i).join(', ')}: has pm2 run them (\`npm start\`)? Set PM2_HOME to the one that ran them`,
    );
  }

  // The tail: the last N lines of every file, in time order (a line without a time keeps its place).
  const lines = options.lines ?? 20;
  const offsets = new Map<string, number>();
  const shown: (ShownLine & { order: number })[] = [];
  for (const f of present) {
    const { lines: tail, size } = await lastLines(f.path, lines);
    offsets.set(f.path, size);
    for (const raw of tail) shown.push({ ...showLine(raw, f.service, f.stream, color), order: shown.length });
  }
  shown.sort((a, b) => (a.time !== undefined && b.time !== undefined && a.time !== b.time ? a.time - b.time : a.order - b.order));
  for (const line of shown.slice(-lines)) write(line.text + '\n');
  if (!options.follow) return;

  // Follow: new bytes of every file as they come; a file that appears later is read from its start, one
  // that shrank (rotated by pm2-logrotate, or flushed) from its new start.
  if (present.length === 0) process.stderr.write(`bitween: no log files in ${pm2LogDir()} yet; waiting for them\n`);
  for (const f of files) if (!offsets.has(f.path)) offsets.set(f.path, 0);
  const partial = new Map<string, string>();
  await new Promise<void>((resolve) => {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void readNew().finally(() => (busy = false));
    }, 200);
    const end = () => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGINT', end);
    process.once('SIGTERM', end);
  });

  async function readNew(): Promise<void> {
    for (const f of files) {
      let size: number;
      try {
        size = (await stat(f.path)).size;
      } catch {
        continue;
      }
      let from = offsets.get(f.path) ?? 0;
      if (size < from) from = 0;
      if (size === from) continue;
      const handle = await open(f.path, 'r');
      try {
        const buf = Buffer.alloc(size - from);
        await handle.read(buf, 0, buf.length, from);
        offsets.set(f.path, size);
        const text = (partial.get(f.path) ?? '') + buf.toString('utf8');
        const parts = text.split('\n');
        partial.set(f.path, parts.pop() ?? '');
        for (const raw of parts) write(showLine(raw, f.service, f.stream, color).text + '\n');
      } finally {
        await handle.close();
      }
    }
  }
}
