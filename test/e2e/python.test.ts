/**
 * pg_code_run_python end to end: Pyodide in a Worker Loader isolate, loaded
 * from the Worker's own modules (no network), with `pg` as the only way out.
 * Start-up takes seconds (much longer on a loaded machine), hence the timeouts.
 *
 * Each hostile run is checked three ways: the refusal it gets, that its effect
 * did not happen (seen from outside the sandbox where it can be), and that a
 * normal program runs afterwards on the same server, whose one Python slot
 * (MAX_CONCURRENT_PYTHON_RUNS=1) the stopped run must have given back.
 */
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { createServer, type Server } from "node:http";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { call, connectClient, text } from "../support/mcp";
import { startWorker, type RunningWorker } from "../../scripts/lib/worker";

// Each test gets a Worker of its own: every run starts a Pyodide isolate (~100-200 MB) that the
// runtime frees lazily, and a local workerd process that holds several dies near 1.4 GB.
let worker: RunningWorker;
let client: Client;
beforeEach(async () => {
  worker = await startWorker({
    // As the least-privilege server role, as every Worker runs.
    databaseUrl: inject("serverDatabaseUrl"),
    vars: { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", PYTHON: "true", TOOL_GROUPS: "query,code", MAX_CONCURRENT_PYTHON_RUNS: "1" },
  });
  client = await connectClient(worker.mcpUrl);
}, 120_000);
afterEach(async () => {
  await client?.close();
  await worker?.stop();
});

type Out = { result: unknown; logs: string[]; dbCalls: number };
const run = (code: string, timeout?: number) => call(client, "pg_code_run_python", timeout ? { code, timeout } : { code });
const runOk = async (code: string) => {
  const r = await run(code);
  if (r.isError) throw new Error(text(r));
  return r.structuredContent as Out;
};
/** A normal program after a hostile one: the server, and its Python slot, still work. */
const stillServes = async () => {
  const out = await runOk(`(await pg.query("select 40 + 2 as n"))[0]["n"]`);
  expect(out.result).toBe(42);
};
const T = 150_000;

describe("pg_code_run_python", () => {
  it(
    "queries the database and returns rows as dicts, with print output and asyncio",
    async () => {
      const out = await runOk(`
import asyncio
rows = await pg.query("select $1::int + 1 as n, 'x' as s", [41])
a, b = await asyncio.gather(pg.query("select 1 as v"), pg.query("select 2 as v"))
await asyncio.sleep(0.01)
print("got", rows[0]["n"])
{"rows": rows, "sum": sum(r["n"] for r in rows), "both": [a[0]["v"], b[0]["v"]]}`);
      expect(out.result).toEqual({ rows: [{ n: 42, s: "x" }], sum: 42, both: [1, 2] });
      expect(out.logs.join("\n")).toContain("got 42");
      expect(out.dbCalls).toBe(3);
    },
    T,
  );

  it(
    "exposes no JavaScript: the bridge modules cannot be imported, and a JavaScript handle found by introspection stops the run",
    async () => {
      const routes = await runOk(`
names = sorted(k for k in globals() if not k.startswith("__"))
import sys
def attempt(f):
    try:
        f()
        return "allowed"
    except BaseException as e:
        return type(e).__name__ + ": " + str(e)
out = {m: attempt(lambda: __import__(m)) for m in ["js", "pyodide_js", "pyodide.ffi", "pyodide.code", "_pyodide", "_pyodide_core", "ctypes", "_ctypes"]}
import gc
out["gc"] = attempt(gc.get_objects)
out["code"] = attempt(lambda: (lambda: 1).__code__.replace(co_code=b""))
out["modules"] = [m for m in sys.modules if m.split(".")[0] in ("js", "pyodide_js", "pyodide", "_pyodide", "_pyodide_core", "_ctypes")]
out["globals"] = names
out`);
      const r = routes.result as Record<string, unknown>;
      for (const m of ["js", "pyodide_js", "pyodide.ffi", "pyodide.code", "_pyodide", "_pyodide_core", "ctypes", "_ctypes"]) expect(r[m], m).toBe(`ImportError: module '${m}' is not available in the sandbox`);
      expect(r.gc).toBe("RuntimeError: gc.get_objects is not allowed in the sandbox");
      expect(r.code).toBe("RuntimeError: code.__new__ is not allowed in the sandbox");
      expect(r.modules).toEqual([]);
      // A fresh globals dict: the sandbox's own namespace is not the program's.
      expect(r.globals).toEqual(["PgError", "pg"]);

      // Pyodide's event loop module still holds a JavaScript function (scheduleCallback); reaching
      // it through Python introspection and touching it ends the run before the next line.
      const reached = await run(`
import asyncio, warnings
warnings.simplefilter("ignore")
handle = type(asyncio.get_event_loop_policy()).new_event_loop.__globals__["scheduleCallback"]
print("found", type(handle).__name__)
ctor = handle.constructor
print("after the access", ctor)`);
      expect(reached.isError).toBe(true);
      expect(text(reached)).toContain("SandboxViolation: the program reached for a JavaScript object (JsProxy_GetAttr_js)");
      expect(text(reached)).toContain("found JsProxy");
      expect(text(reached)).not.toContain("after the access");
      await stillServes();
    },
    T * 2,
  );

  it(
    "cannot disarm its limits: an ignored SIGINT, a caught KeyboardInterrupt and Python's own catastrophic regex end cleanly, and the next run works",
    async () => {
      const stubborn = await run(`
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        while True: pass
    except BaseException:
        pass`);
      expect(stubborn.isError).toBe(true);
      expect(text(stubborn)).toContain("SandboxLimitError: sandbox operation budget");
      // sre (Python's re) backtracks: 2^40 steps. It checks for signals every 4096 steps, and the
      // sandbox's check also watches the clock, so the deadline stops it inside the match.
      const regex = await run(`import re\nprint("matching")\nre.match(r'^(a|a)*$', 'a' * 40 + 'b')`, 40_000);
      expect(regex.isError).toBe(true);
      expect(text(regex)).toContain("TimeoutError: the program ran past its time limit (40000 ms");
      expect(text(regex)).toContain("matching");
      await stillServes();
    },
    T * 2,
  );

  // Its own Worker (beforeEach): locally stopped Pyodide isolates are freed lazily in one shared
  // workerd process, and five runs in a row on one Worker aborted it in a full-suite run.
  it(
    "cannot disarm its limits: time.sleep and a raised recursion limit end cleanly, and the next run works",
    async () => {
      // time.sleep busy-waits in C without a signal check: refused, asyncio.sleep is the way to wait.
      const sleeper = await run(`import time\ntime.sleep(3600)`);
      expect(sleeper.isError).toBe(true);
      expect(text(sleeper)).toContain("RuntimeError: time.sleep() would block the whole isolate");
      // A raised recursion limit ends in the engine's stack limit, not in a frozen or broken server.
      const deep = await run(`import sys\nsys.setrecursionlimit(10**7)\ndef f(n): return f(n + 1)\nf(0)`);
      expect(deep.isError).toBe(true);
      expect(text(deep)).toMatch(/RecursionError|Maximum call stack size exceeded/);
      await stillServes();
    },
    T * 2,
  );

  it(
    "frees its slot after a timeout: a program that awaits past its time limit is ended and the next run works",
    async () => {
      const sleeper = await run(`import asyncio\nawait asyncio.sleep(3600)`, 15_000);
      expect(sleeper.isError).toBe(true);
      expect(text(sleeper)).toMatch(/did not finish within 15000 ms|ran past its time limit \(15000 ms/);
      await stillServes();
    },
    T,
  );

  it(
    "reaches no network and no host files: a live local server sees no request, a host file stays unreadable, written files stay in memory and are capped",
    async () => {
      let hits = 0;
      const server: Server = createServer((_req, res) => {
        hits++;
        res.end("answered");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const dir = mkdtempSync(join(tmpdir(), "pg-mcp-python-"));
      try {
        const port = (server.address() as { port: number }).port;
        const url = `http://127.0.0.1:${port}/`;
        // The target answers whoever can reach it: the test can.
        expect(await (await fetch(url)).text()).toBe("answered");
        expect(hits).toBe(1);
        const secret = randomUUID();
        const hostFile = join(dir, "secret.txt");
        writeFileSync(hostFile, secret);
        const marker = `pg-mcp-python-${randomUUID()}.txt`;

        const out = await runOk(`
import os, socket, urllib.request, http.client
def attempt(f):
    try:
        return "allowed: " + repr(f())[:100]
    except BaseException as e:
        return type(e).__name__
res = {
    "urlopen": attempt(lambda: urllib.request.urlopen(${JSON.stringify(url)}, timeout=2).read()),
    "socket": attempt(lambda: socket.create_connection(("127.0.0.1", ${port}), timeout=2).send(b"GET / HTTP/1.0\\r\\n\\r\\n")),
    "http_client": attempt(lambda: http.client.HTTPConnection("127.0.0.1", ${port}, timeout=2).request("GET", "/")),
    "host_file": attempt(lambda: open(${JSON.stringify(hostFile)}).read()),
}
for path in [${JSON.stringify(join(dir, marker))}, ${JSON.stringify(join(tmpdir(), marker))}]:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("written from Python")
res["own_file"] = open(${JSON.stringify(join(tmpdir(), marker))}).read()
written = 0
try:
    for i in range(64):
        with open(f"/tmp/fill{i}", "wb") as f:
            f.write(b"x" * 1000000)
        written += 1
except OSError as e:
    res["fill_error"] = e.errno
res["fill_mb"] = written
res`);
        const r = out.result as Record<string, unknown>;
        for (const k of ["urlopen", "socket", "http_client", "host_file"]) expect(String(r[k]), k).not.toMatch(/^allowed/);
        expect(r.host_file).toBe("FileNotFoundError");
        expect(hits).toBe(1);
        // Files the program writes live in its own memory: they exist for it, not on the host.
        expect(r.own_file).toBe("written from Python");
        expect(existsSync(join(dir, marker))).toBe(false);
        expect(existsSync(join(tmpdir(), marker))).toBe(false);
        // In-memory files sit outside the heap cap, so their bytes are capped (16 MB): ENOSPC.
        expect(r.fill_error).toBe(28);
        expect(r.fill_mb).toBeLessThan(17);
        await stillServes();
        expect(hits).toBe(1);
      } finally {
        server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    T * 2,
  );

  it(
    "stops runaway memory, and the server keeps serving",
    async () => {
      const memory = await run("x = []\nwhile True:\n    x.append('a' * 1000000)");
      expect(memory.isError).toBe(true);
      expect(text(memory)).toContain("MemoryError");
      await stillServes();
    },
    T * 2,
  );

  // A Worker of its own (beforeEach): locally the isolates of finished runs are freed lazily and share one
  // process, so a run that filled its heap is not followed by more than one other run on the same Worker.
  it(
    "reports Python errors, and the server keeps serving",
    async () => {
      const err = await run("1/0");
      expect(err.isError).toBe(true);
      expect(text(err)).toContain("ZeroDivisionError");
      const syntax = await run("def (");
      expect(syntax.isError).toBe(true);
      expect(text(syntax)).toContain("SyntaxError");
      await stillServes();
    },
    T * 2,
  );
});
