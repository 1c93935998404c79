// A server a test runs as its own child process (postgres, redis-server, prosody in test/fixtures/): spawned,
// waited for until it is ready, stopped by pid with signals that escalate; ended, and its folder removed, if
// the test process exits before its cleanup ran.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

export interface DaemonSpec {
  /** For messages: "redis-server on port 6380". */
  name: string;
  command: string;
  args: string[];
  /** cwd, env, uid/gid; stdout and stderr are always read. */
  options?: Omit<SpawnOptions, 'stdio'>;
  /** Ready once its output (stdout and stderr) matches this, or once this probe says so (asked every 20 ms). */
  ready: RegExp | (() => Promise<boolean>);
  timeoutMs: number;
  /** What to do when the command cannot be run at all, e.g. "install it (apt-get install redis-server)". */
  missing: string;
  /**
   * How it is ended when it fails to start or the test process exits: SIGKILL (default), or a signal it gets up
   * to 5 s to act on (postgres: SIGQUIT ends its backends and frees its shared memory; SIGKILL would not).
   */
  killSignal?: NodeJS.Signals;
}

export interface Daemon {
  readonly child: ChildProcess;
  /** Resolves when the process is gone. */
  readonly exited: Promise<void>;
  /** Sends `signal`, then each later one after its delay while the process runs; resolves when it is gone. */
  stop(signal: NodeJS.Signals, escalate?: [afterMs: number, signal: NodeJS.Signals][]): Promise<void>;
}

const running = new Map<ChildProcess, NodeJS.Signals>();
const folders = new Set<string>();
process.on('exit', () => {
  // Servers first, then their folders (a server may still write into its folder).
  for (const [child, signal] of running) {
    child.kill(signal);
    if (signal === 'SIGKILL') continue;
    // An exit hook cannot await: wait synchronously, then kill.
    const deadline = Date.now() + 5000;
    while (alive(child.pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    if (alive(child.pid)) child.kill('SIGKILL');
  }
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/** True while the process runs (a zombie, exited but not yet reaped by us, counts as gone). */
function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Removes `dir` if the test process exits before its cleanup ran; returns what forgets it (cleanup removed it). */
export function removeOnExit(dir: string): () => void {
  folders.add(dir);
  return () => folders.delete(dir);
}

/** Spawns the server and resolves once it is ready; rejects (with its last output) if it exits, cannot run, or takes too long. */
export async function startDaemon(spec: DaemonSpec): Promise<Daemon> {
  const child = spawn(spec.command, spec.args, { ...spec.options, stdio: ['ignore', 'pipe', 'pipe'] });
  const killSignal = spec.killSignal ?? 'SIGKILL';
  running.set(child, killSignal);
  let output = '';
  let starting = true;
  const onData = (d: Buffer) => {
    output += d.toString();
    // Once it is up only the tail is kept: postgres logs for as long as the test runs.
    if (!starting && output.length > 8192) output = output.slice(-4096);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let gone = false;
  let failure: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    const done = (err: Error) => {
      gone = true;
      failure ??= err;
      running.delete(child);
      resolve();
    };
    child.once('exit', (code, signal) => done(new Error(`${spec.name} exited (${code ?? signal}):\n${output.slice(-2000)}`)));
    // Not on PATH: 'error' instead of 'exit'.
    child.once('error', (err) => done(new Error(`cannot run ${spec.command} (${err.message}): ${spec.missing}`)));
  });

  const daemon: Daemon = {
    child,
    exited,
    async stop(signal, escalate = [[5000, 'SIGKILL']]) {
      if (gone) return;
      child.kill(signal);
      const timers = escalate.map(([ms, later]) => setTimeout(() => child.kill(later), ms));
      await exited;
      for (const t of timers) clearTimeout(t);
    },
  };

  const deadline = Date.now() + spec.timeoutMs;
  for (;;) {
    if (failure) throw failure;
    if (typeof spec.ready === 'function' ? await spec.ready() : spec.ready.test(output)) break;
    if (Date.now() > deadline) {
      const err = new Error(`${spec.name} not ready in ${spec.timeoutMs / 1000} s:\n${output.slice(-2000)}`);
      await daemon.stop(killSignal);
      throw err;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  starting = false;
  return daemon;
}
