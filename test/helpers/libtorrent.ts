// A stock libtorrent peer (test/fixtures/libtorrent-peer.py under Debian's /usr/bin/python3, package
// python3-libtorrent) as a child process: its JSON lines become events a test waits for.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './process.js';

/** Debian's python3-libtorrent imports only under the system interpreter (python3 on PATH may be pyenv's). */
export const SYSTEM_PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test', 'fixtures', 'libtorrent-peer.py');

export interface LibtorrentEvent {
  event: string;
  [field: string]: unknown;
}

export interface LibtorrentPeer {
  child: ChildProcess;
  readonly events: LibtorrentEvent[];
  /** The first event (from now on or already seen) named one of `names`. */
  waitFor(names: string[], timeoutMs: number): Promise<LibtorrentEvent>;
  stop(): Promise<void>;
}

/** Runs the fixture with `args` (see the script's header), bound to `bind` (default 127.0.0.1). */
export function startLibtorrent(args: string[], bind = '127.0.0.1'): LibtorrentPeer {
  const child = spawn(SYSTEM_PYTHON, [SCRIPT, '--bind', bind, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: LibtorrentEvent[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as LibtorrentEvent);
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  let exitCode: number | string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exitCode = code ?? signal ?? -1;
      for (const w of waiters) w();
      resolve();
    }),
  );
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  return {
    child,
    events,
    waitFor(names, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find((e) => names.includes(e.event));
          if (hit) return finish(() => resolve(hit));
          if (exitCode !== undefined) finish(() => reject(new Error(`libtorrent peer exited (${exitCode}) before ${names.join('/')}: ${stderr.join('').slice(-800)}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`libtorrent peer sent no ${names.join('/')} in ${timeoutMs} ms; last: ${JSON.stringify(events.at(-1))} ${stderr.join('').slice(-400)}`))), timeoutMs);
        const finish = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      process.off('exit', kill);
      if (exitCode === undefined) child.kill('SIGTERM');
      const timer = setTimeout(kill, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
