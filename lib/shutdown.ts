// One shutdown path for signals, the `exit` topic and fatal errors (uncaught exceptions, unhandled
// rejections): run the close function under a deadline below pm2's kill_timeout (10 s in ecosystem.config.js),
// then exit with a code that tells pm2 whether to restart the process. A second signal or fatal error exits
// at once.
import type { Logger } from './log.js';
import { errorMessage } from './errors.js';
import { askPm2ToStop, ownPm2Id } from './pm2.js';
import { within } from './within.js';

export const SHUTDOWN_DEADLINE_MS = 8000;

// Exit codes (after sysexits.h). pm2 restarts an app that exits with any code but those in `stop_exit_codes`
// (ecosystem.config.js lists STOP_EXIT_CODES), and reports a death by signal (kill -9, SIGSEGV, SIGABRT) as
// code 0: so 0 is not a stop code, and such a crash is restarted.
/** Stopped for good by the `exit` topic. */
export const EXIT_STOPPED = 64;
/** A fatal error (uncaught exception, unhandled rejection): a crash, which pm2 restarts. */
export const EXIT_SOFTWARE = 70;
/** A configuration or schema error: restarting would only repeat it. */
export const EXIT_CONFIG = 78;
/** The codes after which the app stays stopped. */
export const STOP_EXIT_CODES: readonly number[] = [EXIT_STOPPED, EXIT_CONFIG];

/** How long pm2 may take to take the request to stop this app, then to signal it. */
const PM2_ASK_MS = 2000;
const PM2_SIGNAL_WAIT_MS = 3000;

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Set once the work is done and the process only waits for pm2's signal to end with this code. */
let endingWith: number | undefined;

export type Shutdown = (reason: string, code?: number) => Promise<void>;

/**
 * Ends the process with `code`, one of STOP_EXIT_CODES, so that it stays stopped. Under pm2 it asks pm2 to stop
 * the app, as `pm2 stop` does, and pm2's signal ends the process: an app that exits by itself with a stop code
 * is not restarted, but with a restart delay set (exp_backoff_restart_delay) pm2 7 shows it 'waiting restart'
 * forever instead of 'stopped'. When pm2 cannot be asked, or does not signal in time, the process exits by
 * itself: not restarted all the same. `warn` gets the reason why pm2 could not be asked.
 */
export async function exitForGood(code: number, warn: (err: unknown) => void): Promise<void> {
  endingWith = code;
  for (const signal of SIGNALS) process.on(signal, () => process.exit(code));
  const pmId = ownPm2Id();
  if (pmId !== undefined) {
    const ask = askPm2ToStop(pmId).then(
      () => true,
      (err: unknown) => {
        warn(err);
        return false;
      },
    );
    const asked = await within<boolean | undefined>(ask, PM2_ASK_MS, undefined);
    if (asked === undefined) warn(new Error(`pm2 did not answer within ${PM2_ASK_MS} ms`));
    if (asked) {
      setTimeout(() => process.exit(code), PM2_SIGNAL_WAIT_MS);
      return;
    }
  }
  process.exit(code);
}

/**
 * Registers the shutdown path and returns it. `shutdown(reason, code)` runs `close` once and exits with `code`
 * (0 by default; 1 when it was 0 and a step failed); a stop code goes through exitForGood.
 */
export function onShutdown(log: Logger, close: () => Promise<void>, deadlineMs = SHUTDOWN_DEADLINE_MS): Shutdown {
  let started = false;
  const shutdown: Shutdown = async (reason, requested = 0) => {
    if (started) return;
    started = true;
    log.info({ reason, code: requested }, 'shutting down');
    // The timer starts first: the close function may block the loop, and pm2 must never need SIGKILL.
    const timer = setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown took too long: exiting anyway');
      process.exit(endingWith ?? 1);
    }, deadlineMs);
    timer.unref();
    let code = requested;
    try {
      await close();
    } catch (err) {
      log.error({ err }, 'shutdown step failed');
      if (code === 0) code = 1;
    }
    log.info({ code }, 'stopped');
    // Let pino flush its line before the process goes.
    log.flush?.();
    process.exitCode = code;
    if (STOP_EXIT_CODES.includes(code)) await exitForGood(code, (err) => log.warn({ err }, `cannot ask pm2 to stop this app: ${errorMessage(err)}; exiting with ${code}`));
    else setImmediate(() => process.exit(code));
  };
  for (const signal of SIGNALS) {
    process.on(signal, () => {
      if (endingWith !== undefined) return; // exitForGood's own listener ends the process with its code
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
  // A fatal error leaves the process in an unknown state: save what can be saved, then exit non-zero so that
  // pm2 restarts it. Without these listeners Node would exit at once (1) and skip the save.
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    const kind = event === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection';
    process.on(event, (err: unknown) => {
      log.fatal({ err }, `${kind}: ${errorMessage(err)}`);
      if (started) {
        log.fatal('fatal error during shutdown: exiting now');
        log.flush?.();
        process.exit(endingWith ?? EXIT_SOFTWARE);
      }
      void shutdown(kind, EXIT_SOFTWARE);
    });
  }
  return shutdown;
}

/** Runs every step even when one fails; throws the first failure at the end. */
export async function runAll(log: Logger, steps: [string, () => unknown][]): Promise<void> {
  let first: unknown;
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      log.error({ step: name, err }, `shutdown step "${name}" failed`);
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
