#!/usr/bin/env node
// `npm stop` (node dist/cli/stop.js) and `bitween stop`: stops the pm2 apps one after the other, in the
// order INTERFACE.md §1 gives — xmpp first (withdraws the shares while the rest still runs), then torrent
// (saves its state), nat last (removes the router mappings) — with the web dashboard before them all.
// Publishes nothing: `exit` on the bus would stop every service at once, in no order. pm2 stops an app by signal and waits until it has exited (kill_timeout) before the next one starts.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { UnavailableError, errorMessage } from '../lib/errors.js';
import { call, connectPm2, type Pm2Process } from '../lib/pm2.js';
import { STOP_ORDER as SERVICE_STOP_ORDER, appName } from '../lib/services.js';

/** The pm2 apps in the order they stop (lib/services.ts). */
export const STOP_ORDER = SERVICE_STOP_ORDER.map(appName);

/** Stops the running bitween apps in order; `say` gets one line per app. Returns the names stopped. */
export async function stopApps(say: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<string[]> {
  // A stop must not start anything: no daemon, nothing to stop.
  const pm2 = await connectPm2();
  if (!pm2) {
    say('pm2 is not running: nothing to stop');
    return [];
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
