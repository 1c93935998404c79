// Waiting for a service to be up, as `bitween status` sees it: its heartbeat (written once it is ready).
import type { Redis } from 'ioredis';
import { until } from '../../bench/child.js';
import { readHeartbeat, type Heartbeat } from '../../lib/heartbeat.js';

/** Polls `service`'s heartbeat until `ok` holds (e.g. a new pid); throws after timeoutMs. */
export function waitForHeartbeat(redis: Redis, namespace: string, service: string, ok: (hb: Heartbeat) => boolean, timeoutMs: number): Promise<Heartbeat> {
  return until(`a matching heartbeat of ${service}`, timeoutMs, async () => {
    const hb = await readHeartbeat(redis, namespace, service);
    return hb && ok(hb) ? hb : undefined;
  }, 20);
}
