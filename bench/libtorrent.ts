// A stock libtorrent leecher for bench:transfer (bench/libtorrent-leech.py under Debian's /usr/bin/python3,
// package python3-libtorrent): started idle, told what to fetch from which seeder, kept alive after the fetch
// so /proc still has its figures, stopped by its pid.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from '../test/helpers/libtorrent.js';
import type { Child } from './child.js';

const SCRIPT = fileURLToPath(new URL('../../bench/libtorrent-leech.py', import.meta.url));

export interface LibtorrentDone {
  /** From libtorrent's add_torrent (a magnet: the metadata comes from the seeder) to its torrent_finished alert. */
  ms: number;
  /** From the add to the first payload byte (2 ms steps): connection setup (uTP tried first), the metadata. */
  firstByteMs: number;
  /** The stream cipher of the connection to the seeder: rc4, plaintext (MSE handshake, then plaintext), none. */
  encryption: string;
}

export interface LibtorrentLeecher extends Child {
  fetch(order: { infoHash: string; savePath: string; host: string; port: number }, timeoutMs: number): Promise<LibtorrentDone>;
}

/** Starts the leecher; resolves once its session is up (before any fetch). */
export async function startLibtorrentLeecher(timeoutMs: number): Promise<LibtorrentLeecher> {
  const proc = spawn(SYSTEM_PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`cannot start ${SYSTEM_PYTHON}: is python3-libtorrent installed?`);
  const output: string[] = [];
  const events: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters) w();
  });
  proc.stderr!.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  proc.stdin!.on('error', () => {}); // EPIPE if it died: its exit says more
  let gone = false;
  const exited = new Promise<number | string>((resolve) =>
    proc.on('exit', (code, signal) => {
      gone = true;
      for (const w of waiters) w();
      resolve(code ?? signal ?? -1);
    }),
  );
  const next = (event: string, ms: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const hit = events.find((e) => e.event === event);
        if (hit) return finish(() => resolve(hit));
        if (gone) finish(() => reject(new Error(`libtorrent leecher exited before ${event}: ${output.slice(-5).join(' | ')}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`libtorrent leecher sent no ${event} in ${ms} ms: ${output.slice(-5).join(' | ')}`))), ms);
      const finish = (then: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        then();
      };
      waiters.add(check);
      check();
    });
  const stop = async () => {
    if (gone) return;
    proc.stdin!.end();
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await next('ready', timeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: proc.pid,
    output,
    exited,
    stop,
    async fetch(order, ms) {
      proc.stdin!.write(`${JSON.stringify(order)}\n`);
      const done = await next('done', ms);
      return { ms: Number(done.ms), firstByteMs: Number(done.firstByteMs), encryption: String(done.encryption) };
    },
  };
}
