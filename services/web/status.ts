// The services' state as the dashboard shows it: each one's heartbeat (up or down, pid, since, its facts),
// and whether the store answers. Same sources as `bitween status`.
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { errorMessage } from '../../lib/errors.js';
import { listHeartbeatServices, readHeartbeat } from '../../lib/heartbeat.js';

/** Always listed, in pm2's start order; any other service with a heartbeat follows. */
export const KNOWN_SERVICES = ['torrent', 'nat', 'xmpp', 'web'];

export interface ServiceState {
  name: string;
  up: boolean;
  pid: number | null;
  version: string | null;
  startedAt: string | null;
  facts: Record<string, unknown>;
}

export interface DashboardStatus {
  namespace: string;
  store: { up: boolean; error: string | null };
  services: ServiceState[];
}

export async function readDashboardStatus(redis: Redis, namespace: string, db: pg.Pool): Promise<DashboardStatus> {
  const others = (await listHeartbeatServices(redis, namespace)).filter((n) => !KNOWN_SERVICES.includes(n));
  const services: ServiceState[] = [];
  for (const name of [...KNOWN_SERVICES, ...others]) {
    const beat = await readHeartbeat(redis, namespace, name);
    services.push({
      name,
      up: beat !== undefined,
      pid: beat?.pid ?? null,
      version: beat?.version ?? null,
      startedAt: beat?.startedAt ?? null,
      facts: beat?.facts ?? {},
    });
  }
  let storeError: string | null = null;
  try {
    await db.query('SELECT 1');
  } catch (err) {
    storeError = `${errorMessage(err)} (is PostgreSQL running?)`;
  }
  return { namespace, store: { up: storeError === null, error: storeError }, services };
}
