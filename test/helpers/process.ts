// Runs a bitween service as the separate process it is in production, and stops it by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function serviceEntry(name: string): string {
  return fileURLToPath(new URL(`../../services/${name}/index.js`, import.meta.url));
}

export interface ServiceProcess {
  child: ChildProcess;
  readonly output: string[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when gone. */
  stop(graceMs?: number): Promise<number | string>;
  kill9(): Promise<number | string>;
}

export interface StartOptions {
  cwd?: string;
  argv?: string[];
  /** A command that runs the service, e.g. ['ip', 'netns', 'exec', NS]: it must exec node in place (same pid). */
  prefix?: string[];
  /** Options for node itself, before the script (e.g. ecosystem.config.js's node_args). */
  nodeArgs?: string[];
}

/** Services still running; killed by pid if the test process exits before its cleanup ran. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function startService(name: string, env: Record<string, string>, options: StartOptions = {}): ServiceProcess {
  const command = [...(options.prefix ?? []), process.execPath, ...(options.nodeArgs ?? []), serviceEntry(name), ...(options.argv ?? [])];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', BITWEEN_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      output.push(line);
      if (process.env.BITWEEN_TEST_VERBOSE) process.stderr.write(`[${name} ${child.pid}] ${line}\n`);
      for (const l of listeners) l(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let gone = false;
  running.add(child);
  void exited.then(() => {
    gone = true;
    running.delete(child);
  });

  const proc: ServiceProcess = {
    child,
    output,
    exited,
    waitForLine(pattern, timeoutMs = 15000) {
      const hit = output.find((l) => pattern.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(l);
          reject(new Error(`${name} (pid ${child.pid}) printed no line matching ${pattern} in ${timeoutMs} ms; output:\n${output.slice(-15).join('\n')}`));
        }, timeoutMs);
        const l = (line: string) => {
          if (pattern.test(line)) {
            clearTimeout(timer);
            listeners.delete(l);
            resolve(line);
          }
        };
        listeners.add(l);
        void exited.then((code) => {
          if (!listeners.has(l)) return;
          clearTimeout(timer);
          listeners.delete(l);
          reject(new Error(`${name} exited (${code}) before printing ${pattern}; output:\n${output.slice(-15).join('\n')}`));
        });
      });
    },
    async stop(graceMs = 10000) {
      if (gone) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill9() {
      if (!gone) child.kill('SIGKILL');
      return exited;
    },
  };
  return proc;
}

/** Waits until the service logged that it is ready (subscribed to its topics). */
export async function startServiceReady(name: string, env: Record<string, string>, options?: StartOptions): Promise<ServiceProcess> {
  const proc = startService(name, env, options);
  await proc.waitForLine(/bitween-\w+ ready/, 30000);
  return proc;
}
