// One shutdown path for signals, the `exit` topic and fatal errors: run the close function under a
// deadline below pm2's kill_timeout (10 s in ecosystem.config.js); a second signal exits at once.
import type { Logger } from './log.js';
import { errorMessage } from './errors.js';

export const SHUTDOWN_DEADLINE_MS = 8000;

export type Shutdown = (reason: string) => Promise<void>;

export function onShutdown(log: Logger, close: () => Promise<void>, deadlineMs = SHUTDOWN_DEADLINE_MS): Shutdown {
  let started = false;
  const shutdown: Shutdown = async (reason) => {
    if (started) return;
    started = true;
    log.info({ reason }, 'shutting down');
    // The timer starts first: the close function may block the loop, and pm2 must never need SIGKILL.
    const timer = setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown took too long: exiting anyway');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    let code = 0;
    try {
      await close();
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'shutdown step failed');
      code = 1;
    }
    log.info({ code }, 'stopped');
    // Let pino flush its line before the process goes.
    log.flush?.();
    process.exitCode = code;
    setImmediate(() => process.exit(code));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (started) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      void shutdown(signal);
    });
  }
  // pm2 on Windows and some setups send a 'shutdown' message instead of a signal.
  process.on('message', (msg) => {
    if (msg === 'shutdown') void shutdown('pm2 shutdown message');
  });
  return shutdown;
}

/** Runs every step even when one fails; throws the first failure at the end. */
export async function runAll(log: Logger, steps: [string, () => unknown][]): Promise<void> {
  let first: unknown;
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      log.error({ step: name, err: errorMessage(err) }, `shutdown step "${name}" failed`);
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
