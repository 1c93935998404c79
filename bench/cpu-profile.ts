// Preloaded with `--import` (NODE_OPTIONS refuses --cpu-prof) into the leechers when BENCH_CPU_PROF=<dir>:
// records a V8 CPU profile of the whole process and its garbage collections, and writes
// <dir>/<script>-<pid>.cpuprofile (for Chrome DevTools) and <dir>/<script>-<pid>.gc.json on exit.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';

const dir = process.env.BENCH_CPU_PROF;
if (dir) {
  const name = `${process.argv[1]?.split('/').slice(-2).join('-')}-${process.pid}`;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');

  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-sweep-compact',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
  };
  const gc: Record<string, { count: number; ms: number }> = {};
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = kinds[(e as unknown as { detail: { kind: number } }).detail.kind] ?? 'other';
      const k = (gc[kind] ??= { count: 0, ms: 0 });
      k.count++;
      k.ms += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });

  // An in-process inspector session answers synchronously, so this works inside an 'exit' handler.
  process.on('exit', () => {
    const mem = process.memoryUsage();
    writeFileSync(join(dir, `${name}.gc.json`), JSON.stringify({ gc, heapUsedAtExit: mem.heapUsed, heapTotalAtExit: mem.heapTotal }, null, 1));
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
