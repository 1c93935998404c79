// Each service keeps a Redis key `<ns>:heartbeat:<service>` alive with its pid, version, start time and
// own facts; `bitween status` reads them. The TTL makes a dead service show as down within seconds.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from './log.js';
import { within } from './within.js';

export const HEARTBEAT_INTERVAL_MS = 2000;
export const HEARTBEAT_TTL_S = 6;

export interface Heartbeat {
  service: string;
  pid: number;
  version: string;
  startedAt: string;
  updatedAt: string;
  facts: Record<string, unknown>;
}

export const VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;

export function heartbeatKey(namespace: string, service: string): string {
  return `${namespace}:heartbeat:${service}`;
}

export function startHeartbeat(
  redis: Redis,
  namespace: string,
  service: string,
  facts: () => Record<string, unknown> | Promise<Record<string, unknown>>,
  log: Logger,
): { beat(): void; stop(): Promise<void> } {
  const startedAt = new Date().toISOString();
  const write = async () => {
    // While Redis is away a beat would only queue up; the key expires and status shows the service down.
    if (redis.status !== 'ready') return;
    try {
      const value: Heartbeat = { service, pid: process.pid, version: VERSION, startedAt, updatedAt: new Date().toISOString(), facts: await facts() };
      await redis.set(heartbeatKey(namespace, service), JSON.stringify(value), 'EX', HEARTBEAT_TTL_S);
    } catch (err) {
      log.debug({ err }, 'heartbeat not written');
    }
  };
  // One write at a time (an older one landing last would show older facts), and one more after it when beats
  // were asked meanwhile.
  let writing: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const beat = (): void => {
    if (stopped) return;
    if (writing) {
      again = true;
      return;
    }
    writing = write().finally(() => {
      writing = undefined;
      if (again) {
        again = false;
        beat();
      }
    });
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    /** Writes the heartbeat now (facts changed), not at the next interval. */
    beat,
    async stop() {
      clearInterval(timer);
      stopped = true;
      // A write still out would bring the key back after the delete below.
      await writing;
      // Gone means down at once, not after the TTL; with Redis away the TTL does it.
      if (redis.status === 'ready') await within(redis.del(heartbeatKey(namespace, service)).catch(() => 0), 1000, 0);
    },
  };
}

/** The service's last heartbeat, or undefined when it is down (key expired or deleted on stop). */
export async function readHeartbeat(redis: Redis, namespace: string, service: string): Promise<Heartbeat | undefined> {
  const text = await redis.get(heartbeatKey(namespace, service));
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as Heartbeat;
  } catch {
    return undefined;
  }
}

/** Every service with a heartbeat in the namespace (including ones `bitween status` does not know by name). */
export async function listHeartbeatServices(redis: Redis, namespace: string): Promise<string[]> {
  const prefix = heartbeatKey(namespace, '');
  const names = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 100);
    for (const key of keys) names.add(key.slice(prefix.length));
    cursor = next;
  } while (cursor !== '0');
  return [...names].sort();
}
