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
