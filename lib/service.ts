// The frame every service process shares: config, logger, store, bus, the `exit` topic and shutdown.
// A service supplies `start(ctx)` returning its handlers object (on_<topic> methods) and a close().
import type pg from 'pg';
import { Bus } from './bus.js';
import { loadConfig, type Config } from './config.js';
import { BitweenError, ConfigError, SchemaError, UnavailableError, errorMessage } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { startHeartbeat } from './heartbeat.js';
import { ownPm2Id } from './pm2.js';
import { EXIT_CONFIG, EXIT_STOPPED, exitForGood, onShutdown, runAll } from './shutdown.js';
import { checkSchema, openPool } from './store/pool.js';

// The exit codes live with the shutdown path that uses them.
export { EXIT_CONFIG, EXIT_SOFTWARE, EXIT_STOPPED } from './shutdown.js';

export interface ServiceContext {
  config: Config;
  log: Logger;
  bus: Bus;
  db: pg.Pool;
  /** Writes the heartbeat now, when a fact changed that status readers (and tests) should see at once. */
  beat(): void;
}

export interface RunningService {
  /** Object whose on_<topic> methods are subscribed. */
  handlers: object;
  /** Topics handled at once, not queued behind slow handlers. */
  immediate?: string[];
  /**
   * Runs once the handlers are subscribed, before the service reports ready (log line, pm2's wait_ready): what
   * it announces, others may act on at once (torrent: bt_ready). Throwing fails the start.
   */
  ready?(): Promise<void>;
  /** Facts for the heartbeat that `bitween status` shows (port, counts, connection, mapping). */
  facts?(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Phase 1 of shutdown: stop intake, withdraw (e.g. publish no shares). */
  stop?(): Promise<void>;
  /** Phase 2: save and release what the service opened. */
  close(): Promise<void>;
}

async function waitForSchema(db: pg.Pool, config: Config, log: Logger, stopping: () => boolean): Promise<void> {
  for (let attempt = 0; !stopping(); attempt++) {
    try {
      await checkSchema(db, config.databaseUrl);
      return;
    } catch (err) {
      // Postgres may start after us under a process manager: wait for it, but say so once.
      if (!(err instanceof UnavailableError)) throw err;
      if (attempt === 0) log.warn(errorMessage(err) + ': retrying');
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 5000)));
    }
  }
}

export interface ServiceOptions {
  /** Rules of this service on the config (throw ConfigError), checked before anything is opened. */
  checkConfig?(config: Config): void;
}

export async function runService(
  name: string,
  start: (ctx: ServiceContext) => Promise<RunningService>,
  options: ServiceOptions = {},
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
    options.checkConfig?.(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`bitween-${name}: ${err.message}\n`);
    await exitForGood(EXIT_CONFIG, (why) => process.stderr.write(`bitween-${name}: cannot ask pm2 to stop this app: ${errorMessage(why)}\n`));
    return;
  }
  const log = createLogger(name, config.logLevel, config.logFormat);
  const db = openPool(config.databaseUrl);
  const bus = new Bus({ redisUrl: config.redisUrl, namespace: config.namespace, service: name, log });
  let running: RunningService | undefined;
  let heartbeat: { beat(): void; stop(): Promise<void> } | undefined;

  // Signals, the `exit` topic and fatal errors (uncaught exceptions, unhandled rejections) all end here.
  // A signal may come while start-up is still running: let start-up finish (it stops at the next step),
  // so that what it opened is closed in order, instead of closing the store under its feet.
  let stopping = false;
  let starting: Promise<void> = Promise.resolve();
  const shutdown = onShutdown(log, async () => {
    stopping = true;
    await starting.catch(() => undefined);
    await runAll(log, [
      ['stop taking messages', () => bus.unsubscribeAll()],
      ['finish queued messages', () => bus.drain()],
      ['withdraw', () => running?.stop?.()],
      ['stop the heartbeat', () => heartbeat?.stop()],
      [`close ${name}`, () => running?.close()],
      ['close the bus', () => bus.close()],
      ['close the store', () => db.end()],
    ]);
  });

  starting = (async () => {
    await waitForSchema(db, config, log, () => stopping);
    if (stopping) return;
    running = await start({ config, log, bus, db, beat: () => heartbeat?.beat() });
    if (stopping) return;
    // Stopped for good: under pm2, EXIT_STOPPED; elsewhere nothing would restart the process, so it ends as a
    // signal ends it, with 0.
    await bus.subscribe('exit', () => shutdown('exit topic', ownPm2Id() === undefined ? 0 : EXIT_STOPPED), { immediate: true });
    const topics = await bus.serve(running.handlers, { immediate: running.immediate });
    await running.ready?.();
    if (stopping) return;
    log.info({ namespace: config.namespace, topics: ['exit', ...topics] }, `bitween-${name} ready`);
    heartbeat = startHeartbeat(bus.redis, config.namespace, name, () => running?.facts?.() ?? {}, log);
    process.send?.('ready'); // pm2 wait_ready
  })();
  try {
    await starting;
  } catch (err) {
    if (stopping) return; // the shutdown in progress closes what is open and exits

    const known = err instanceof SchemaError || err instanceof BitweenError;
    log.fatal({ err: known ? undefined : err }, `cannot start: ${errorMessage(err)}`);
    // A schema that does not match stays stopped; anything else is restarted (with pm2's back-off).
    await shutdown('cannot start', err instanceof SchemaError ? EXIT_CONFIG : 1);
  }
}
