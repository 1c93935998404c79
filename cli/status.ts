// `bitween status`: each service up, degraded or down with why (lib/status.ts, the reader the dashboard uses
// too), since when, its version and facts, and whether Redis and the store answer. A service that is not up is
// a finding, not a failure: exit 0, unless `--check` asks for an exit code a probe can act on.
import { NO_HEALTH, readStatus as readNodeStatus, type ServiceStatus as NodeServiceStatus } from '../lib/status.js';
import { redact } from '../lib/store/pool.js';
import { clean, formatDuration, formatFact, formatTime, json, table, terminalWidth, words } from './format.js';
import { EXIT, out } from './run.js';
import type { Session } from './session.js';

/** A service as `status --json` prints it (keyed by name, as it always was). */
export type ServiceStatus = Omit<NodeServiceStatus, 'name'>;

export interface Status {
  namespace: string;
  redis: { url: string; up: boolean };
  store: { url: string; up: boolean; error: string | null };
  services: Record<string, ServiceStatus>;
  /** One line per service or store that is not up (what `--check` prints). */
  problems: string[];
}

export async function readStatus(session: Session): Promise<Status> {
  const redis = await session.redis(); // Redis down: nothing to report on, fail with its one line
  const status = await readNodeStatus(redis, session.namespace, () => session.db());
  return {
    namespace: session.namespace,
    redis: { url: redact(session.config.redisUrl), up: true },
    store: { url: redact(session.config.databaseUrl), ...status.store },
    services: Object.fromEntries(status.services.map(({ name, ...s }) => [name, s])),
    problems: status.problems,
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

/** Joins parts with `gap`, breaking lines at `width` (a part longer than that gets a line of its own), each line indented. */
function wrap(parts: string[], indent: string, width: number, gap = '  '): string[] {
  const lines: string[] = [];
  let line = '';
  for (const part of parts) {
    if (line !== '' && indent.length + line.length + gap.length + part.length > width) {
      lines.push(indent + line);
      line = part;
    } else {
      line = line === '' ? part : `${line}${gap}${part}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

/** A torrent service that says its health: the states it has torrents in (the health line names the failed ones). */
function torrentFacts(facts: Record<string, unknown>): string[] {
  const shown = Object.entries(facts)
    .filter(([key]) => key !== 'store')
    .map(([key, value]): [string, unknown] => [key, key === 'states' && isRecord(value) ? Object.fromEntries(Object.entries(value).filter(([, n]) => count(n))) : value]);
  return factText(Object.fromEntries(shown));
}

function factLines(name: string, s: ServiceStatus): string[] {
  if (name !== 'torrent') return factText(s.facts);
  return s.summary === NO_HEALTH && s.reason === null ? torrentFactText(s.facts) : torrentFacts(s.facts);
}

/** What the service says of its health: the summary when up, with the reason when not; nothing from a service that says nothing. */
function healthLines(s: ServiceStatus, width: number): string[] {
  if (s.state === 'up') return s.summary === NO_HEALTH ? [] : wrap(clean(s.summary).split(' '), '  ', width, ' ');
  return wrap(clean(`${s.summary}: ${s.reason ?? ''}`).split(' '), '  ', width, ' ');
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
      { header: 'STATE', value: ([, s]) => s.state },
      { header: 'PID', value: ([, s]) => (s.pid === null ? '-' : String(s.pid)), align: 'right' },
      { header: 'SINCE', value: ([, s]) => since(s) },
      { header: 'VERSION', value: ([, s]) => s.version ?? '-' },
    ],
    width,
  ).split('\n');
  const lines = [head[0]!];
  rows.forEach(([name, s], i) => {
    lines.push(head[i + 1]!);
    lines.push(...healthLines(s, width));
    lines.push(...wrap(factLines(name, s), '  ', width));
  });
  lines.push('');
  lines.push(`redis      up    ${status.redis.url}  namespace ${status.namespace}`);
  lines.push(`postgres   ${status.store.up ? 'up  ' : 'down'}  ${status.store.up ? status.store.url : clean(status.store.error ?? '')}`);
  return lines.join('\n');
}

/**
 * `--check`, for cron and monitoring probes: nothing printed and exit 0 when every service and the store are
 * up; else one line per problem and exit 1 (EXIT.notUp). Redis unreachable is 69 as for every command.
 * With `--json` the whole status is printed, and the exit code is the same.
 */
export async function statusCommand(session: Session, options: { json?: boolean; check?: boolean }): Promise<number> {
  const status = await readStatus(session);
  if (options.json) await out(json(status));
  else if (!options.check) await out(renderStatus(status));
  else if (status.problems.length > 0) await out(status.problems.map(clean).join('\n'));
  return options.check && status.problems.length > 0 ? EXIT.notUp : EXIT.ok;
}
