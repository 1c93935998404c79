// A child process that reports on stdout one JSON object per line, each naming its `event` (the libtorrent
// fixtures of the tests and of bench:transfer): the events so far, and a wait for the next of some names.
import type { ChildProcess } from 'node:child_process';

export interface JsonEvent {
  event: string;
  [field: string]: unknown;
}

export interface JsonEvents {
  readonly events: JsonEvent[];
  /** Resolves with the exit code (or signal) once the child has exited. */
  readonly exited: Promise<number | string>;
  /** The exit code or signal; undefined while it runs. */
  exitCode(): number | string | undefined;
  /** The first event (from now on or already seen) named one of `names`. */
  waitFor(names: string[], timeoutMs: number): Promise<JsonEvent>;
}

/** Follows `child`'s stdout; `label` names it in errors, `tail()` gives its last output for them. */
export function followJsonEvents(child: ChildProcess, label: string, tail: () => string): JsonEvents {
  const events: JsonEvent[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as JsonEvent);
    for (const w of waiters) w();
  });
  let code: number | string | undefined;
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (exitCode, signal) => {
      code = exitCode ?? signal ?? -1;
      for (const w of waiters) w();
      resolve(code);
    }),
  );
  return {
    events,
    exited,
    exitCode: () => code,
    waitFor(names, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find((e) => names.includes(e.event));
          if (hit) return finish(() => resolve(hit));
          if (code !== undefined) finish(() => reject(new Error(`${label} exited (${code}) before ${names.join('/')}: ${tail()}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`${label} sent no ${names.join('/')} in ${timeoutMs} ms; last: ${JSON.stringify(events.at(-1))} ${tail()}`))),
          timeoutMs,
        );
        const finish = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      });
    },
  };
}
