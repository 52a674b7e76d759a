/**
 * CPU time of processes the benchmarks start, read from /proc (Linux): user
 * plus system time, so "CPU per call" can be set beside latency. Wall-clock
 * latency on a shared 2-core machine moves with the load; the CPU a server
 * spends per call moves much less. Elsewhere these answer undefined / [].
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;
function hz(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface Stat {
  pid: number;
  comm: string;
  ppid: number;
  pgrp: number;
  cpuMs: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces and parentheses: the fields after it start at the last ") ".
    const close = text.lastIndexOf(") ");
    const comm = text.slice(text.indexOf("(") + 1, close);
    const f = text.slice(close + 2).split(" ");
    return { pid, comm, ppid: Number(f[1]), pgrp: Number(f[2]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / hz() };
  } catch {
    return undefined; // gone, or no /proc
  }
}

function all(): Stat[] {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  return pids.map((p) => stat(Number(p))).filter((s): s is Stat => s !== undefined);
}

/** Children of `parent` whose command name starts with `name`. */
export function childPids(parent: number, name: string): number[] {
  return all()
    .filter((s) => s.ppid === parent && s.comm.startsWith(name))
    .map((s) => s.pid);
}

/** Every process of a process group (a child started `detached`, and what it started). */
export function groupPids(pgrp: number): number[] {
  return all()
    .filter((s) => s.pgrp === pgrp)
    .map((s) => s.pid);
}

/**
 * CPU milliseconds these processes have used so far; undefined when any of
 * them cannot be read (gone, or no /proc), so that a difference of two
 * readings never compares different sets of processes.
 */
export function cpuMs(pids: number[]): number | undefined {
  if (!pids.length) return undefined;
  const stats = pids.map(stat);
  return stats.every((s) => s !== undefined) ? stats.reduce((n, s) => n + s!.cpuMs, 0) : undefined;
}
