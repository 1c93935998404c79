// Peak memory and CPU time of a running process, read from /proc (Linux). Read before the process is
// stopped: once it has exited, /proc/<pid> is gone.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Clock ticks per second, the unit of utime and stime in /proc/<pid>/stat (100 on Linux nearly always). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcStats {
  /** VmHWM: the resident set's high-water mark since the process started, bytes. */
  peakRss: number;
  /** utime + stime: CPU seconds the process has used so far, user and kernel. */
  cpuSeconds: number;
}

/** One memory line of /proc/<pid>/status (VmRSS: resident now, VmHWM: its peak, RssAnon: private), bytes. */
export async function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) * 1024;
}

export async function readProcStats(pid: number): Promise<ProcStats> {
  const peakRss = await procStatusBytes(pid, 'VmHWM');
  // The command name (field 2) may contain spaces and parentheses: split after its closing ')'.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name, fields start at 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return { peakRss, cpuSeconds: (utime + stime) / CLK_TCK };
}
