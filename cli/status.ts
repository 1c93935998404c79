// `bitween status`: each service up or down from its heartbeat (pid, since, version, its own facts), and
// whether Redis and the store answer. A service that is down is a finding, not a failure: exit 0.
import { errorMessage } from '../lib/errors.js';
import { listHeartbeatServices, readHeartbeat, type Heartbeat } from '../lib/heartbeat.js';
import { redact } from '../lib/store/pool.js';
import { clean, formatDuration, formatFact, formatTime, json, table, terminalWidth, words } from './format.js';
import { out } from './run.js';
import type { Session } from './session.js';

/** Always listed, in pm2's start order (ecosystem.config.js), as the dashboard does; any other service with a heartbeat follows. */
export const CORE_SERVICES = ['torrent', 'nat', 'xmpp', 'web'] as const;

export interface ServiceStatus {
  up: boolean;
  pid: number | null;
  version: string | null;
  startedAt: string | null;
  updatedAt: string | null;
  facts: Record<string, unknown>;
}

export interface Status {
  namespace: string;
  redis: { url: string; up: boolean };
  store: { url: string; up: boolean; error: string | null };
  services: Record<string, ServiceStatus>;
}

function serviceStatus(beat: Heartbeat | undefined): ServiceStatus {
  if (!beat) return { up: false, pid: null, version: null, startedAt: null, updatedAt: null, facts: {} };
  return { up: true, pid: beat.pid, version: beat.version, startedAt: beat.startedAt, updatedAt: beat.updatedAt, facts: beat.facts ?? {} };
}

export async function readStatus(session: Session): Promise<Status> {
  const redis = await session.redis(); // Redis down: nothing to report on, fail with its one line
  const names = [...CORE_SERVICES, ...(await listHeartbeatServices(redis, session.namespace)).filter((n) => !(CORE_SERVICES as readonly string[]).includes(n))];
  const services: Record<string, ServiceStatus> = {};
  for (const name of names) services[name] = serviceStatus(await readHeartbeat(redis, session.namespace, name));
  let storeError: string | null = null;
  try {
    await session.db();
  } catch (err) {
    storeError = errorMessage(err);
  }
  return {
    namespace: session.namespace,
    redis: { url: redact(session.config.redisUrl), up: true },
    store: { url: redact(session.config.databaseUrl), up: storeError === null, error: storeError },
    services,
  };
}

/** Facts one level deep as "listen port 51413"; lists of objects (per-torrent details) as a count. */
export function factText(facts: Record<string, unknown>): string[] {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(facts)) {
    // Nothing known (no mapping, no error) is not worth a word on a status screen; --json keeps it.
    if (value === null || value === undefined) continue;
    if (Array.isArray(value) && value.some((v) => typeof v === 'object' && v !== null)) {
      parts.push(`${words(key)} ${value.length}`);
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const inner = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined && (typeof v !== 'object' || Array.isArray(v)));
      parts.push(inner.length === 0 ? `${words(key)} -` : `${words(key)}: ${inner.map(([k, v]) => `${words(k)} ${formatFact(k, v)}`).join(', ')}`);
    } else {
      parts.push(`${words(key)} ${formatFact(key, value)}`);
    }
  }
  return parts.map(clean);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null;
}

/**
 * The torrent service's `store` and `states` facts as what needs attention: "store unreachable, 3 writes
 * waiting" (its state changes are kept in memory until Postgres is back) and how many torrents are in error,
 * missing or changed state. Nothing when all is well; facts of another shape (an older service) as they are.
 */
export function torrentFactText(facts: Record<string, unknown>): string[] {
  const { store, states, ...rest } = facts;
  const parts: string[] = [];
  if (isRecord(store)) {
    const pending = count(store.pendingWrites);
    const writes = pending === null ? '' : `${pending} write${pending === 1 ? '' : 's'} waiting`;
    if (store.reachable === false) parts.push(`store unreachable${writes ? `, ${writes}` : ''}`);
    else if (pending) parts.push(`store ${writes}`);
  } else if (store !== undefined) {
    rest.store = store;
  }
  if (isRecord(states)) {
    const failed = (['error', 'missing', 'changed'] as const).filter((s) => count(states[s])).map((s) => `${s} ${count(states[s])}`);
    if (failed.length > 0) parts.push(`${failed.join(', ')} (\`bitween ls\` says why)`);
  } else if (states !== undefined) {
    rest.states = states;
  }
  return [...parts.map(clean), ...factText(rest)];
}

/** Joins parts with two spaces, breaking lines at `width`, each line indented. */
function wrap(parts: string[], indent: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const part of parts) {
    if (line !== '' && indent.length + line.length + 2 + part.length > width) {
      lines.push(indent + line);
      line = part;
    } else {
      line = line === '' ? part : `${line}  ${part}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

export function renderStatus(status: Status, now = new Date(), width = terminalWidth()): string {
  const rows = Object.entries(status.services);
  const since = (s: ServiceStatus) => {
    if (!s.startedAt) return '-';
    const started = new Date(s.startedAt);
    return `${formatTime(started)} (${formatDuration((now.getTime() - started.getTime()) / 1000)})`;
  };
  const head = table(
    rows,
    [
      { header: 'SERVICE', value: ([name]) => name },
      { header: 'STATE', value: ([, s]) => (s.up ? 'up' : 'down') },
      { header: 'PID', value: ([, s]) => (s.pid === null ? '-' : String(s.pid)), align: 'right' },
      { header: 'SINCE', value: ([, s]) => since(s) },
      { header: 'VERSION', value: ([, s]) => s.version ?? '-' },
    ],
    width,
  ).split('\n');
  const lines = [head[0]!];
  rows.forEach(([name, s], i) => {
    lines.push(head[i + 1]!);
    lines.push(...wrap(name === 'torrent' ? torrentFactText(s.facts) : factText(s.facts), '  ', width));
  });
  lines.push('');
  lines.push(`redis      up    ${status.redis.url}  namespace ${status.namespace}`);
  lines.push(`postgres   ${status.store.up ? 'up  ' : 'down'}  ${status.store.up ? status.store.url : clean(status.store.error ?? '')}`);
  return lines.join('\n');
}

export async function statusCommand(session: Session, options: { json?: boolean }): Promise<number> {
  const status = await readStatus(session);
  await out(options.json ? json(status) : renderStatus(status));
  return 0;
}
