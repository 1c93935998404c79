// Child processes of the benchmark (aria2c, opentracker, bare webtorrent): output kept for error messages,
// stopped by their own pid, never by name.
import { spawn, type ChildProcess } from 'node:child_process';

/** A child process started by the benchmark, stopped by its pid. */
export interface Child {
  pid: number;
  output: string[];
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

export function spawnChild(command: string, args: string[], options: { ipc?: boolean; env?: Record<string, string> } = {}): { proc: ChildProcess; child: Child } {
  const proc = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? (['ipc'] as const) : [])],
    env: { ...process.env, ...options.env },
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  proc.on('error', (err) => output.push(`spawn error: ${err.message}`));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let gone = false;
  void exited.then(() => (gone = true));
  if (proc.pid === undefined) throw new Error(`cannot start ${command}: is it installed?`);
  const child: Child = {
    pid: proc.pid,
    output,
    exited,
    async stop() {
      if (gone) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  return { proc, child };
}

/** Checks `done` every `everyMs` until it is true (an error from it ends the wait); rejects after timeoutMs with `describe()`. */
export async function pollUntil(done: () => boolean | Promise<boolean>, timeoutMs: number, describe: () => string, everyMs = 2): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(describe());
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls `probe` (its errors count as "not yet") until it returns a value. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 50): Promise<T> {
  let value: T | undefined;
  await pollUntil(async () => (value = await probe().catch(() => undefined)) !== undefined, timeoutMs, () => `timed out after ${timeoutMs} ms waiting for ${what}`, everyMs);
  return value!;
}
