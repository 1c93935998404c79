// Each service keeps a Redis key `<ns>:heartbeat:<service>` alive with its pid, version, start time and
// own facts; `bitween status` reads them. The TTL makes a dead service show as down within seconds.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from './log.js';

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
): { stop(): Promise<void> } {
  const startedAt = new Date().toISOString();
  const beat = async () => {
    try {
      const value: Heartbeat = { service, pid: process.pid, version: VERSION, startedAt, updatedAt: new Date().toISOString(), facts: await facts() };
      await redis.set(heartbeatKey(namespace, service), JSON.stringify(value), 'EX', HEARTBEAT_TTL_S);
    } catch (err) {
      log.debug({ err }, 'heartbeat not written');
    }
  };
  void beat();
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      // Gone means down at once, not after the TTL.
      await redis.del(heartbeatKey(namespace, service)).catch(() => undefined);
    },
  };
}
