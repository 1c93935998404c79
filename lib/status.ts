// The one status reader, for `bitween status` and the dashboard: every service of the node with its health
// and whether the store answers. A service is `up`, `degraded` (running, but not doing its whole job: the
// reason says why and what to do) or `down` (no heartbeat). A running service says how it is in its
// heartbeat's `health` fact (Health below); "process alive" alone is not health.
import type { Redis } from 'ioredis';
import { errorMessage } from './errors.js';
import { listHeartbeatServices, readHeartbeat, type Heartbeat } from './heartbeat.js';
import { SERVICES, isServiceName } from './services.js';

export type HealthState = 'up' | 'degraded' | 'down';

/** What a running service says of itself, as `facts.health` in its heartbeat. */
export interface Health {
  state: 'up' | 'degraded';
  /** A few words: "online as alice@example.org/laptop", "no router", "port mapping off". */
  summary: string;
  /** Why it is degraded and what to do, in one sentence; null when up. */
  reason: string | null;
}

export function healthy(summary: string): Health {
  return { state: 'up', summary, reason: null };
}

export function degraded(summary: string, reason: string): Health {
  return { state: 'degraded', summary, reason };
}

export interface ServiceStatus {
  name: string;
  /** The process runs (its heartbeat is there); says nothing of its health (`state` does). */
  up: boolean;
  state: HealthState;
  summary: string;
  /** Why the service is not up; null when it is. */
  reason: string | null;
  pid: number | null;
  version: string | null;
  startedAt: string | null;
  updatedAt: string | null;
  /** The service's own facts, without `health` (that is state, summary and reason). */
  facts: Record<string, unknown>;
}

export interface NodeStatus {
  namespace: string;
  store: { up: boolean; error: string | null };
  /** The node's services in pm2's start order, then any other with a heartbeat. */
  services: ServiceStatus[];
  /** One line per service or store that is not up; empty when all is well. */
  problems: string[];
}

/** Heartbeats are written by bitween's own services, but they sit in Redis: bound what a status screen prints. */
const MAX_TEXT = 500;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value.slice(0, MAX_TEXT) : undefined;
}

/** The summary of a service that publishes no health (an older one): it runs, and that is all it says. */
export const NO_HEALTH = 'running';

/** The `health` fact as Health. */
export function parseHealth(value: unknown): Health {
  if (value === undefined) return healthy(NO_HEALTH);
  const h = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const summary = text(h.summary);
  if (h.state === 'up' && summary) return healthy(summary);
  if (h.state === 'degraded' && summary) return degraded(summary, text(h.reason) ?? 'no reason given');
  return degraded('unknown health', `its heartbeat's health fact is not readable (${JSON.stringify(value)?.slice(0, 100)}): is it the same bitween version?`);
}

export function serviceStatus(name: string, beat: Heartbeat | undefined): ServiceStatus {
  if (!beat) {
    return {
      name,
      up: false,
      state: 'down',
      summary: 'not running',
      reason: `no heartbeat (stopped, crashed, or cut off from Redis): \`bitween logs ${name} --lines 50\` says why`,
      pid: null,
      version: null,
      startedAt: null,
      updatedAt: null,
      facts: {},
    };
  }
  const { health, ...facts } = beat.facts ?? {};
  const h = parseHealth(health);
  return { name, up: true, ...h, pid: beat.pid, version: beat.version, startedAt: beat.startedAt, updatedAt: beat.updatedAt, facts };
}

/** One line per thing that is not up: what `bitween status --check` prints. */
export function problemLines(services: ServiceStatus[], store: NodeStatus['store']): string[] {
  const lines = services.filter((s) => s.state !== 'up').map((s) => `${s.name} ${s.state} (${s.summary}): ${s.reason}`);
  if (!store.up) lines.push(`postgres down: ${store.error}`);
  return lines;
}

/**
 * Reads every heartbeat in `namespace` and asks the store (`checkStore` rejects when it does not answer).
 * Redis not answering is not a status but a failure: the caller's Redis call rejects.
 */
export async function readStatus(redis: Redis, namespace: string, checkStore: () => Promise<unknown>): Promise<NodeStatus> {
  const storeCheck = checkStore().then(
    () => null,
    (err: unknown) => errorMessage(err),
  );
  const others = (await listHeartbeatServices(redis, namespace)).filter((n) => !isServiceName(n));
  const services: ServiceStatus[] = [];
  for (const name of [...SERVICES, ...others]) services.push(serviceStatus(name, await readHeartbeat(redis, namespace, name)));
  const error = await storeCheck;
  const store = { up: error === null, error };
  return { namespace, store, services, problems: problemLines(services, store) };
}
