import { readFileSync } from 'node:fs';

/** Resident set size of a process in MB, from /proc (Linux), or NaN when it cannot be read. */
export function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the highest value seen. */
export function sampleRss(pid: number, everyMs = 200): { stop(): { maxMb: number; samples: number } } {
  let maxMb = 0;
  let samples = 0;
  const take = () => {
    const mb = rssMb(pid);
    if (Number.isFinite(mb)) {
      samples++;
      if (mb > maxMb) maxMb = mb;
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { maxMb, samples };
    },
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux), or NaN. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

function statCpuSeconds(stat: string): number {
  try {
    const fields = readFileSync(stat, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of stat, counted after the command name here.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system) one thread of a process has used so far (the main thread's id is the pid), or NaN. */
export function threadCpuSeconds(pid: number, thread: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${thread}/stat`);
}

/** Load average over the last minute: other work on the machine skews every figure. */
export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}
