// What one CLI run opens: config, and — only when a command needs them — Redis and Postgres, each failing
// fast with one line that says what to do. Services wait out outages; a command line must not.
import { Redis } from 'ioredis';
import pg from 'pg';
import { encodePayload } from '../lib/bus.js';
import { type Config } from '../lib/config.js';
import { UnavailableError, errorMessage } from '../lib/errors.js';
import { heartbeatKey, readHeartbeat, type Heartbeat } from '../lib/heartbeat.js';
import { startHint } from '../lib/hints.js';
import { checkSchema, redact } from '../lib/store/pool.js';
import { loadCliConfig } from './home.js';

/** How long a connection attempt may take before the command gives up. */
export const CONNECT_TIMEOUT_MS = 3000;

/** What to run when a service is down, per service (lib/hints.ts: works as printed from any folder). */
export { startHint } from '../lib/hints.js';

export class Session {
  readonly config: Config;
  private redisConn: Promise<Redis> | undefined;
  private pool: Promise<pg.Pool> | undefined;
  private readonly extra: Redis[] = [];

  constructor(config: Config = loadCliConfig()) {
    this.config = config;
  }

  get namespace(): string {
    return this.config.namespace;
  }

  /** A Redis connection that rejects at once instead of queueing commands while Redis is away. */
  async connectRedis(): Promise<Redis> {
    const url = this.config.redisUrl;
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      connectionName: 'bitween-cli',
    });
    // connect() rejects with "Connection is closed"; the cause (ECONNREFUSED, a timeout) comes as an event.
    let cause: unknown;
    redis.on('error', (err) => (cause ??= err));
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new UnavailableError(`cannot reach Redis at ${redact(url)} (${errorMessage(cause ?? err)}): is redis-server running?`);
    }
    return redis;
  }

  redis(): Promise<Redis> {
    this.redisConn ??= this.connectRedis();
    return this.redisConn;
  }

  /** A second connection, e.g. for subscribing (a subscribed connection can do nothing else). */
  async duplicateRedis(): Promise<Redis> {
    const redis = await this.connectRedis();
    this.extra.push(redis);
    return redis;
  }

  /** The store, checked: reachable and its schema current. */
  db(): Promise<pg.Pool> {
    this.pool ??= (async () => {
      const pool = new pg.Pool({ connectionString: this.config.databaseUrl, max: 2, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
      pool.on('error', () => undefined);
      try {
        await checkSchema(pool, this.config.databaseUrl);
      } catch (err) {
        await pool.end().catch(() => undefined);
        throw err;
      }
      return pool;
    })();
    return this.pool;
  }

  async heartbeat(service: string): Promise<Heartbeat | undefined> {
    return readHeartbeat(await this.redis(), this.namespace, service);
  }

  /** The service's heartbeat, or UnavailableError saying how to start it. */
  async requireService(service: string): Promise<Heartbeat> {
    const beat = await this.heartbeat(service);
    if (!beat) {
      throw new UnavailableError(
        `the ${service} service is not running (no heartbeat at ${heartbeatKey(this.namespace, service)}): ${startHint(service)}`,
      );
    }
    return beat;
  }

  /**
   * Publishes as the contract's payload and returns it (to match the `error` reply, which echoes it).
   * Zero receivers means no service listens on the topic: the message is gone, so say so.
   */
  async publish(service: string, topic: string, args: unknown[], kwargs?: Record<string, unknown>): Promise<string> {
    const payload = encodePayload(args, kwargs);
    const receivers = await (await this.redis()).publish(`${this.namespace}:${topic}`, payload);
    if (receivers === 0) {
      throw new UnavailableError(`nothing listens on ${this.namespace}:${topic}: the ${service} service is not running; ${startHint(service)}`);
    }
    return payload;
  }

  async close(): Promise<void> {
    const closing: Promise<unknown>[] = [];
    for (const redis of this.extra) redis.disconnect();
    if (this.redisConn) closing.push(this.redisConn.then((r) => r.disconnect()).catch(() => undefined));
    if (this.pool) closing.push(this.pool.then((p) => p.end()).catch(() => undefined));
    await Promise.all(closing);
  }
}
