/**
 * Runs the real Worker with `wrangler dev` (workerd), pointed at a database
 * through the Hyperdrive binding's local connection string. Used by
 * `npm run dev`, the end-to-end tests and the benchmarks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports";

export const PROJECT_ROOT = join(import.meta.dirname, "..", "..");

export interface RunningWorker {
  /** Base URL, e.g. http://127.0.0.1:8787 */
  url: string;
  /** The MCP endpoint. */
  mcpUrl: string;
  stop(): Promise<void>;
}

export interface StartWorkerOptions {
  databaseUrl: string;
  /** Extra vars (wrangler dev --var), overriding wrangler.toml. */
  vars?: Record<string, string>;
  /** @default a free port */
  port?: number;
  /** Pass wrangler's output through. @default false */
  verbose?: boolean;
  /** @default 60000 */
  startTimeoutMs?: number;
}

export async function startWorker(opts: StartWorkerOptions): Promise<RunningWorker> {
  const port = opts.port ?? (await freePort());
  const inspectorPort = await freePort();
  const persistDir = mkdtempSync(join(tmpdir(), "pg-mcp-wrangler-"));
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persistDir, "--show-interactive-dev-session=false", "--log-level", opts.verbose ? "info" : "warn"];
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const child: ChildProcess = spawn(join(PROJECT_ROOT, "node_modules", ".bin", "wrangler"), args, {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: opts.databaseUrl,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_LOG_SANITIZE: "false",
      NO_COLOR: "1",
    },
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    const s = chunk.toString();
    output = (output + s).slice(-20_000);
    if (opts.verbose) process.stderr.write(s);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  let exited = false;
  child.on("exit", () => (exited = true));

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited && child.pid) {
      const done = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {}
      }, 5000);
      await done;
      clearTimeout(timer);
    }
    rmSync(persistDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited during start-up:\n${output}`);
    }
    try {
      const r = await fetch(`${url}/`);
      if (r.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer within ${opts.startTimeoutMs ?? 60_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { url, mcpUrl: `${url}/mcp`, stop };
}
