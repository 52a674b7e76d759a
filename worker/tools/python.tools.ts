/**
 * pg_code_run_python: a Python program (CPython on Pyodide) in a fresh
 * sandboxed isolate, with the same capability model as the JavaScript code
 * mode: `pg` is the only way out (sandbox/python/).
 */
import { z } from "zod";
import { ToolError } from "./errors";
import { defineTool, type ToolAnnotations, type ToolContext } from "./registry";
import type { RequestContext } from "../mcp/server";

const MAX_TIMEOUT_MS = 60_000;
/** Pyodide's interrupt checks come every few hundred bytecodes: about 10^9 bytecodes. */
const CHECK_BUDGET = 5_000_000;
const HEAP_BYTES = 96 * 1024 * 1024;

const RUN: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false };

const PythonInput = z.object({
  code: z.string().min(1).describe("Python 3 program; top-level `await` allowed; the value of the last expression is the result"),
  timeout: z.number().int().min(100).max(MAX_TIMEOUT_MS).optional().describe("ms including interpreter start-up (seconds), default and max 60000"),
});

const PythonOutput = z.object({
  result: z.unknown(),
  logs: z.array(z.string()),
  dbCalls: z.number(),
  durationMs: z.number(),
  resultBytes: z.number(),
  truncated: z.boolean(),
});

async function handler(args: z.infer<typeof PythonInput>, ctx: ToolContext) {
  const cfg = ctx.config.code;
  if (new TextEncoder().encode(args.code).length > cfg.maxCodeBytes) throw new ToolError("code_too_large", `the program is larger than ${cfg.maxCodeBytes} bytes (MAX_CODE_BYTES)`);
  const rc = ctx.request as RequestContext;
  const runId = crypto.randomUUID();
  const timeoutMs = args.timeout ?? MAX_TIMEOUT_MS;
  const limits = ctx.env.LIMITS.get(ctx.env.LIMITS.idFromName("deployment"));
  // An interpreter start costs ~100 MB and seconds of CPU: Python runs have their own, smaller cap.
  const slot = await limits.openSlot("python", runId, Date.now() + timeoutMs + 10_000, cfg.maxConcurrentPython);
  if (!slot.ok) throw new ToolError("too_many_programs", `${slot.open} Python programs are already running on this server (MAX_CONCURRENT_PYTHON_RUNS=${cfg.maxConcurrentPython})`, "retry shortly");
  try {
    // Imported on use: the assets are Worker module imports, and the registry must stay importable from Node.
    const { runPython } = await import("../../sandbox/python/run");
    const out = await runPython(rc, args.code, {
      timeoutMs,
      maxCalls: cfg.maxDbCalls,
      maxResultBytes: cfg.maxResultBytes,
      limits: { checks: CHECK_BUDGET, heapBytes: HEAP_BYTES, logChars: 20_000 },
    });
    const logs = out.logTruncated ? [...out.logs, "[output truncated]"] : out.logs;
    const footer = `${out.dbCalls} db calls, ${out.durationMs} ms`;
    if (out.status !== "ok") {
      const e = out.error!;
      throw new ToolError(out.status === "timeout" ? "program_timeout" : "program_error", `${e.name}: ${e.message} (${footer})${logs.length ? `\noutput:\n${logs.join("\n")}` : ""}`);
    }
    const structured = { result: out.value ?? null, logs, dbCalls: out.dbCalls, durationMs: out.durationMs, resultBytes: out.resultBytes, truncated: out.resultTruncated };
    const text = `${JSON.stringify(out.value ?? null)}${logs.length ? `\noutput:\n${logs.join("\n")}` : ""}\n[${footer}]`;
    return { structured, text };
  } finally {
    await limits.closeSlot("python", runId);
  }
}

export const runPythonTool = defineTool({
  name: "pg_code_run_python",
  group: "code",
  title: "Run Python against the database",
  description:
    "Run a Python 3 program (CPython on Pyodide, standard library only) in a sandboxed isolate: no network, no host files; `pg` is the only capability. " +
    "`rows = await pg.query(sql, params)` returns a list of dicts; `await pg.call(tool_name, args)` calls any other tool you may use; `await pg.list_tables()`, `await pg.get_columns(table)`. " +
    "Database errors raise PgError. print() is captured; the value of the last expression is the result (JSON; other values as str). Start-up takes a few seconds.",
  scope: "admin",
  scopeFrom: (config) => config.code.scope,
  available: (config) => config.code.python,
  cost: "code",
  input: PythonInput,
  output: PythonOutput,
  annotations: RUN,
  handler,
});

export const pythonTools = [runPythonTool];
