// A pm2 daemon of the test's own: a private PM2_HOME, started with node_modules/.bin/pm2 as `npm start` does,
// watched through pm2's API (its process list and its event bus), and killed by pid at the end.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './process.js';

const run = promisify(execFile);
export const PM2_BIN = join(ROOT, 'node_modules', '.bin', 'pm2');

export interface Pm2App {
  name: string;
  pid: number;
  pm_id: number;
  pm2_env: {
    status: string;
    pm_uptime: number;
    restart_time: number;
    unstable_restarts: number;
    prev_restart_delay?: number;
    exit_code?: number;
    kill_timeout?: number;
    wait_ready?: boolean;
    stop_exit_codes?: number[];
    exp_backoff_restart_delay?: number;
  };
}

/**
 * One `process:event` of pm2's bus ('online', 'exit', 'stop', 'restart overlimit'…), with pm2's own time.
 * With wait_ready, 'online' comes when the app says it is ready (or exits before that), not when it starts.
 */
export interface Pm2Event {
  event: string;
  at: number;
  name: string;
  pmId: number;
  /** When pm2 started this process of the app. */
  pmUptime: number;
  exitCode?: number;
  restartTime: number;
  prevRestartDelay?: number;
}

interface Pm2Api {
  connect(cb: (err: Error | null) => void): void;
  list(cb: (err: Error | null, list: Pm2App[]) => void): void;
  launchBus(cb: (err: Error | null, bus: { on(event: string, fn: (data: never) => void): void; close?(): void }) => void): void;
  disconnect(): void;
}

export class TestPm2 {
  /** pm2's process events since connect(), in order. */
  readonly events: Pm2Event[] = [];
  /** Every pid pm2 reported for an app, to make sure none outlives the test. */
  private readonly appPids = new Set<number>();
  private api: Pm2Api | undefined;

  /** `env` is the whole environment of the pm2 CLI, and so of the daemon and its apps; it must set PM2_HOME. */
  constructor(readonly env: Record<string, string>) {
    if (!env.PM2_HOME) throw new Error('TestPm2 needs PM2_HOME in its environment');
  }

  get home(): string {
    return this.env.PM2_HOME!;
  }

  /**
   * Runs the pm2 CLI; the first call starts the daemon. Core dumps are off for the daemon and its apps: a test
   * that kills an app with SIGSEGV or SIGABRT must not leave a core file in the app's folder.
   */
  async cli(args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
    const { stdout } = await run('/bin/sh', ['-c', 'ulimit -c 0 && exec "$0" "$@"', PM2_BIN, ...args], {
      env: { ...this.env, ...extraEnv },
      cwd: ROOT,
    });
    return stdout;
  }

  /** Connects pm2's API to the running daemon (start it with cli() first) and records its process events. */
  async connect(): Promise<void> {
    const { default: pm2 } = (await import('pm2')) as unknown as { default: { custom: new (opts: object) => Pm2Api } };
    const api = new pm2.custom({ pm2_home: this.home, cwd: ROOT });
    await new Promise<void>((resolve, reject) => api.connect((err) => (err ? reject(err) : resolve())));
    this.api = api;
    await new Promise<void>((resolve, reject) =>
      api.launchBus((err, bus) => {
        if (err) return reject(err);
        bus.on('process:event', (data: { event: string; at: number; process: Record<string, unknown> }) => {
          const p = data.process;
          this.events.push({
            event: data.event,
            at: data.at,
            name: p.name as string,
            pmId: p.pm_id as number,
            pmUptime: p.pm_uptime as number,
            exitCode: p.exit_code as number | undefined,
            restartTime: p.restart_time as number,
            prevRestartDelay: p.prev_restart_delay as number | undefined,
          });
        });
        resolve();
      }),
    );
  }

  async list(): Promise<Map<string, Pm2App>> {
    if (!this.api) throw new Error('TestPm2.connect() first');
    const apps = await new Promise<Pm2App[]>((resolve, reject) => this.api!.list((err, l) => (err ? reject(err) : resolve(l))));
    for (const a of apps) if (a.pid) this.appPids.add(a.pid);
    return new Map(apps.map((a) => [a.name, a]));
  }

  /** Polls the process list until `ok` holds for it; throws after timeoutMs, showing the list. */
  async waitFor(what: string, ok: (apps: Map<string, Pm2App>) => boolean, timeoutMs: number): Promise<Map<string, Pm2App>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const apps = await this.list();
      if (ok(apps)) return apps;
      if (Date.now() > deadline) {
        const state = [...apps.values()].map((a) => `${a.name} ${a.pm2_env.status} pid ${a.pid} restarts ${a.pm2_env.restart_time}`).join(', ');
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${state}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The first event at or after index `since` (events.length before the action) matching; throws after timeoutMs. */
  async waitForEvent(what: string, match: (e: Pm2Event) => boolean, timeoutMs: number, since = 0): Promise<Pm2Event> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(since).find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        const recent = this.events.slice(-8).map((e) => `${e.name} ${e.event} ${e.exitCode ?? ''}`).join(', ');
        throw new Error(`timed out after ${timeoutMs} ms waiting for pm2 to report ${what}; last events: ${recent}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Ends this daemon and its apps (`pm2 kill` with this PM2_HOME touches no other pm2), checked by pid. */
  async close(): Promise<void> {
    const daemonPid = readPid(join(this.home, 'pm2.pid'));
    if (this.api) {
      await this.list().catch(() => undefined);
      this.api.disconnect();
    }
    if (daemonPid !== undefined) await this.cli(['kill']).catch(() => undefined);
    for (const pid of [...(daemonPid ? [daemonPid] : []), ...this.appPids]) await waitGone(pid, this.home, 10000);
  }
}

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Alive and ours: a pid may be reused once its process is gone, so check it still runs with this PM2_HOME. */
function oursAlive(pid: number, pm2Home: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`PM2_HOME=${pm2Home}`);
  } catch {
    return false;
  }
}

/** Waits for a process this test started (by pid) to be gone; SIGKILL when it outlives timeoutMs. */
async function waitGone(pid: number, pm2Home: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (oursAlive(pid, pm2Home)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
