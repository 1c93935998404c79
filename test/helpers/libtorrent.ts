// A stock libtorrent peer (test/fixtures/libtorrent-peer.py under Debian's /usr/bin/python3, package
// python3-libtorrent) as a child process: its JSON lines become events a test waits for.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { followJsonEvents, type JsonEvent } from './json-events.js';
import { ROOT } from './process.js';

/** Debian's python3-libtorrent imports only under the system interpreter (python3 on PATH may be pyenv's). */
export const SYSTEM_PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test', 'fixtures', 'libtorrent-peer.py');

/** One JSON line of the fixture. */
export type LibtorrentEvent = JsonEvent;

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
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const { events, exited, exitCode, waitFor } = followJsonEvents(child, 'libtorrent peer', () => stderr.join('').slice(-800));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  return {
    child,
    events,
    waitFor,
    async stop() {
      process.off('exit', kill);
      if (exitCode() === undefined) child.kill('SIGTERM');
      const timer = setTimeout(kill, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
