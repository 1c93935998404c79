// The services' state as the dashboard shows it, from the one status reader (lib/status.ts) that
// `bitween status` uses too: each service up, degraded or down with why, its facts, and the store.
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { readStatus, type NodeStatus, type ServiceStatus } from '../../lib/status.js';

/** Without `updatedAt`: it changes with every beat, and the event stream sends the status only when it changed. */
export type ServiceState = Omit<ServiceStatus, 'updatedAt'>;

export interface DashboardStatus extends Omit<NodeStatus, 'services'> {
  services: ServiceState[];
}

export async function readDashboardStatus(redis: Redis, namespace: string, db: pg.Pool): Promise<DashboardStatus> {
  const status = await readStatus(redis, namespace, async () => {
    try {
      await db.query('SELECT 1');
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)} (is PostgreSQL running?)`);
    }
  });
  return { ...status, services: status.services.map(({ updatedAt: _, ...s }) => s) };
}
