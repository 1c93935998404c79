// Runs one command: opens a Session, turns any failure into one line on stderr and an exit code, closes.
import { BitweenError, errorMessage } from '../lib/errors.js';
import { Session } from './session.js';

/** Exit codes, stable for scripts (sysexits.h where one fits). */
export const EXIT = {
  ok: 0,
  /** The request failed: bad input, unknown hash, the service refused it. */
  failed: 1,
  /** `status --check`: a service is degraded or down, or the store does not answer. */
  notUp: 1,
  /** Wrong usage (unknown option, missing argument). */
  usage: 2,
  /** Redis, Postgres or a needed service cannot be reached, or stopped answering. */
  unavailable: 69,
  /** Configuration or database schema problem. */
  config: 78,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

export function exitCodeFor(err: unknown): number {
  if (!(err instanceof BitweenError)) return EXIT.failed;
  switch (err.code) {
    case 'E_UNAVAILABLE':
    case 'E_STORE_DOWN':
      return EXIT.unavailable;
    case 'E_CONFIG':
    case 'E_SCHEMA':
      return EXIT.config;
    default:
      return EXIT.failed;
  }
}

/** One line, never a stack (set BITWEEN_DEBUG=1 for one). */
export function reportError(err: unknown): void {
  const known = err instanceof BitweenError;
  const message = errorMessage(err).replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`bitween: ${known ? message : `unexpected error: ${message}`}\n`);
  if (process.env.BITWEEN_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}

/** Wraps a command action: a Session for its body, one line and an exit code when it throws. */
export function action<A extends unknown[]>(body: (session: Session, ...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    let session: Session | undefined;
    let code: number = EXIT.ok;
    try {
      session = new Session();
      code = (await body(session, ...args)) ?? EXIT.ok;
    } catch (err) {
      reportError(err);
      code = exitCodeFor(err);
    } finally {
      await session?.close();
    }
    process.exitCode = code;
  };
}

/** Writes to stdout and waits until it is flushed (a pipe may be slow; exit must not cut it). */
export function out(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}
