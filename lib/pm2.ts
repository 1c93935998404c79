// Talking to the pm2 daemon of this node (the one PM2_HOME names): `npm stop` stops the apps through it, and a
// service running under pm2 asks it to stop that service for good (lib/shutdown.ts, exitForGood).
import { errorMessage, UnavailableError } from './errors.js';

export interface Pm2Process {
  name?: string;
  pid?: number;
  pm_id?: number;
  pm2_env?: { status?: string };
}

/** The part of pm2's programmatic API that bitween uses. */
export interface Pm2 {
  connect(cb: (err: Error | null) => void): void;
  list(cb: (err: Error | null, list: Pm2Process[]) => void): void;
  stop(nameOrId: string | number, cb: (err: Error | null) => void): void;
  disconnect(): void;
  Client: { pingDaemon(cb: (alive: boolean) => void): void };
}

export function call<T>(fn: (cb: (err: Error | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/**
 * Connects to the running pm2 daemon; undefined when none runs (pm2's own connect() would launch one, and
 * neither a stop nor a stopping service may start anything). Throws UnavailableError when it cannot connect.
 */
export async function connectPm2(): Promise<Pm2 | undefined> {
  const pm2 = ((await import('pm2')) as unknown as { default: Pm2 }).default;
  const alive = await new Promise<boolean>((resolve) => pm2.Client.pingDaemon(resolve));
  if (!alive) return undefined;
  try {
    await call<void>((cb) => pm2.connect((err) => cb(err, undefined)));
  } catch (err) {
    throw new UnavailableError(`cannot talk to the pm2 daemon: ${errorMessage(err)} (is PM2_HOME the one \`npm start\` used?)`);
  }
  return pm2;
}

/** This process's id in pm2 (pm2 puts `pm_id` in the environment of every app it runs); undefined elsewhere. */
export function ownPm2Id(): number | undefined {
  const id = Number(process.env.pm_id);
  return process.env.pm_id !== undefined && Number.isInteger(id) && id >= 0 ? id : undefined;
}

/**
 * Asks pm2 to stop the app with this id, as `pm2 stop` does: pm2 marks it stopping, sends it SIGINT and, once
 * it has exited, shows it `stopped` whatever its exit code. Resolves once the request is sent; pm2's answer
 * only comes after the app has exited, so an app stopping itself never sees it.
 */
export async function askPm2ToStop(pmId: number): Promise<void> {
  const pm2 = await connectPm2();
  if (!pm2) throw new UnavailableError('no pm2 daemon answers (is PM2_HOME the one `npm start` used?)');
  pm2.stop(pmId, () => pm2.disconnect());
}
