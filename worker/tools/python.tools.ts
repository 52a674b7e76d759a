/**
 * pg_code_run_python: a Python program (CPython on Pyodide) in a fresh
 * sandboxed isolate, with the same capability model as the JavaScript code
 * mode: `pg` is the only way out (sandbox/python/).
 */
import { z } from "zod";
import { defineTool, type ToolAnnotations, type ToolContext } from "./registry";
import { CodeOutput, callerApi, programConfig, runSandboxed } from "./codemode.tools";
import { ToolError } from "./errors";

/** What a deployment whose bundle has no Pyodide answers, if its configuration lists the tool anyway. */
export const PYTHON_MISSING =
  'this deployment was built without Python (Pyodide): its configuration did not offer pg_code_run_python when it was built. Build and deploy it again with "code" in its tool groups and PYTHON not "false" (npm run deploy, or npm run customer)';

const MAX_TIMEOUT_MS = 60_000;
/** Pyodide's interrupt checks come every few hundred bytecodes: about 10^9 bytecodes. */
const CHECK_BUDGET = 5_000_000;
const HEAP_BYTES = 96 * 1024 * 1024;
/** Bytes a program may write to its in-memory files (kept in JavaScript memory, outside the heap cap). */
const FILE_BYTES = 16 * 1024 * 1024;

const RUN: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false };

const PythonInput = z.object({
  code: z.string().min(1).describe("Python 3 program; top-level `await` allowed; the value of the last expression is the result"),
  timeout: z.number().int().min(100).max(MAX_TIMEOUT_MS).optional().describe("ms including interpreter start-up (seconds), default and max 60000"),
});

// The same result shape as the JavaScript code tools.
const PythonOutput = CodeOutput;

function handler(args: z.infer<typeof PythonInput>, ctx: ToolContext) {
  const cfg = ctx.config.code;
  return runSandboxed(ctx, args.code, args.timeout ?? MAX_TIMEOUT_MS, {
    // An interpreter start costs ~100 MB and seconds of CPU: Python runs have their own, smaller cap.
    slot: "python",
    max: cfg.maxConcurrentPython,
    maxVar: "MAX_CONCURRENT_PYTHON_RUNS",
    outputLabel: "output",
    truncatedNote: "[output truncated]",
    run: async (rc, timeoutMs) => {
      // Imported on use: the assets are Worker module imports, and the registry must stay importable from Node.
      // A bundle built without Pyodide resolves #python-runtime to sandbox/python/absent.ts (no runPython).
      const { runPython } = await import("#python-runtime");
      if (!runPython) throw new ToolError("python_not_in_bundle", PYTHON_MISSING);
      return runPython({ ...rc, config: programConfig(rc.config) }, args.code, { timeoutMs, maxCalls: cfg.maxDbCalls, maxResultBytes: cfg.maxResultBytes, limits: { checks: CHECK_BUDGET, timeMs: timeoutMs, heapBytes: HEAP_BYTES, fileBytes: FILE_BYTES, logChars: 20_000 }, api: callerApi(rc.config, rc.principal.scopes).entries });
    },
  });
}

export const runPythonTool = defineTool({
  name: "pg_code_run_python",
  group: "code",
  title: "Run Python against the database",
  description:
    "Run a Python 3 program (CPython on Pyodide, standard library only) in a sandboxed isolate: no network, no host files; `pg` is the only capability. " +
    "`rows = await pg.query(sql, params)` returns a list of dicts; `await pg.call(tool_name, args)` calls any other tool you may use; `await pg.list_tables()`, `await pg.get_columns(table)`. " +
    "Database errors raise PgError. print() is captured; the value of the last expression is the result (JSON; other values as str). asyncio works (gather, sleep); there is no JavaScript: `js`, `pyodide` and `ctypes` cannot be imported. Start-up takes a few seconds.",
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
