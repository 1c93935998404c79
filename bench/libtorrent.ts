// A stock libtorrent leecher for bench:transfer (bench/libtorrent-leech.py under Debian's /usr/bin/python3,
// package python3-libtorrent): started idle, told what to fetch from which seeder, kept alive after the fetch
// so /proc still has its figures, stopped by its pid.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { followJsonEvents } from '../test/helpers/json-events.js';
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
  proc.stderr!.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  proc.stdin!.on('error', () => {}); // EPIPE if it died: its exit says more
  const { exited, exitCode, waitFor } = followJsonEvents(proc, 'libtorrent leecher', () => output.slice(-5).join(' | '));
  const next = (event: string, ms: number) => waitFor([event], ms);
  const stop = async () => {
    if (exitCode() !== undefined) return;
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
