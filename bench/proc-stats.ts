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

export async function readProcStats(pid: number): Promise<ProcStats> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const hwm = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!hwm) throw new Error(`/proc/${pid}/status has no VmHWM line`);
  // The command name (field 2) may contain spaces and parentheses: split after its closing ')'.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name, fields start at 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return { peakRss: Number(hwm[1]) * 1024, cpuSeconds: (utime + stime) / CLK_TCK };
}
