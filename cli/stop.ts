#!/usr/bin/env node
// `npm stop` (node dist/cli/stop.js) and `bitween stop`: stops the pm2 apps one after the other, in the
// order INTERFACE.md §1 gives — xmpp first (withdraws the shares while the rest still runs), then torrent
// (saves its state), nat last (removes the router mappings) — with the web dashboard before them all.
// Publishes nothing: `exit` on the bus would stop every service at once, in no order, and pm2 would restart
// them. pm2 stops an app by signal and waits until it has exited (kill_timeout) before the next one starts.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { UnavailableError, errorMessage } from '../lib/errors.js';

export const STOP_ORDER = ['bitween-web', 'bitween-xmpp', 'bitween-torrent', 'bitween-nat'];

interface Pm2Process {
  name?: string;
  pm2_env?: { status?: string };
}

interface Pm2 {
  connect(cb: (err: Error | null) => void): void;
  list(cb: (err: Error | null, list: Pm2Process[]) => void): void;
  stop(name: string, cb: (err: Error | null) => void): void;
  disconnect(): void;
  Client: { pingDaemon(cb: (alive: boolean) => void): void };
}

function call<T>(fn: (cb: (err: Error | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/** Stops the running bitween apps in order; `say` gets one line per app. Returns the names stopped. */
export async function stopApps(say: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<string[]> {
  const pm2 = ((await import('pm2')) as unknown as { default: Pm2 }).default;
  // connect() would launch a daemon when none runs; a stop must not start anything.
  const alive = await new Promise<boolean>((resolve) => pm2.Client.pingDaemon(resolve));
  if (!alive) {
    say('pm2 is not running: nothing to stop');
    return [];
  }
  try {
    await call<void>((cb) => pm2.connect((err) => cb(err, undefined)));
  } catch (err) {
    throw new UnavailableError(`cannot talk to the pm2 daemon: ${errorMessage(err)} (is PM2_HOME the one \`npm start\` used?)`);
  }
  const stopped: string[] = [];
  try {
    const apps = await call<Pm2Process[]>((cb) => pm2.list(cb));
    for (const name of STOP_ORDER) {
      const procs = apps.filter((p) => p.name === name);
      if (procs.length === 0) continue;
      if (procs.every((p) => p.pm2_env?.status === 'stopped')) {
        say(`${name} already stopped`);
        continue;
      }
      await call<void>((cb) => pm2.stop(name, (err) => cb(err, undefined)));
      stopped.push(name);
      say(`stopped ${name}`);
    }
    if (!apps.some((p) => STOP_ORDER.includes(p.name ?? ''))) say('no bitween apps in pm2: nothing to stop');
  } finally {
    pm2.disconnect();
  }
  return stopped;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (isMain) {
  try {
    await stopApps();
    process.exit(0);
  } catch (err) {
    process.stderr.write(`bitween stop: ${errorMessage(err)}\n`);
    process.exit(err instanceof UnavailableError ? 69 : 1);
  }
}
