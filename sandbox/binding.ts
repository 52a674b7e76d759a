/**
 * PgBinding: the one capability a program has. The parent hands the sandbox
 * an RPC stub of this entrypoint, with props (set by the parent, unforgeable
 * by the program) naming the run and the caller. Every call goes through the
 * same path as a direct tool call (callTool): the caller's scopes, the
 * deployment's read-only switch, validation, statement timeout, row caps and
 * audit. Only `call` is public: any other method name fails at the RPC layer.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { ProtocolError } from "@modelcontextprotocol/server";
import { getConfig } from "../worker/config";
import { callTool, type RequestContext } from "../worker/mcp/server";
import { checkReadOnly } from "../worker/sql/readonly";
import { NOT_FROM_CODE } from "./api";
import { RUNS, type PgBindingProps } from "./runs";

export type CallResult = { ok: true; value: unknown } | { ok: false; error: string; code?: string };

const fail = (error: string, code?: string): CallResult => ({ ok: false, error, ...(code ? { code } : {}) });

export class PgBinding extends WorkerEntrypoint<Env, PgBindingProps> {
  async call(tool: string, args: unknown): Promise<CallResult> {
    const props = this.ctx.props;
    const run = RUNS.get(props.runId);
    if (!run || run.done || Date.now() > props.deadline) return fail("this program's run has ended; no more database calls", "run_ended");
    if (++run.calls > props.maxCalls) return fail(`too many database calls (limit ${props.maxCalls} per run)`, "too_many_calls");
    if (typeof tool !== "string" || NOT_FROM_CODE.has(tool)) return fail(`${String(tool)} cannot be called from a program`, "not_allowed");
    const rc: RequestContext = {
      env: this.env,
      config: getConfig(this.env),
      principal: props.principal,
      waitUntil: (p) => this.ctx.waitUntil(p),
    };
    const a = (args ?? {}) as Record<string, unknown>;
    try {
      switch (tool) {
        case "pg.query": {
          const name = typeof a.sql === "string" && checkReadOnly(a.sql).ok ? "pg_query_read" : "pg_query_write";
          return await invoke(rc, name, { sql: a.sql, ...(a.params !== undefined ? { params: a.params } : {}), ...(a.tx !== undefined ? { tx: a.tx } : {}) });
        }
        case "pg.listTables":
          return await invoke(rc, "pg_schema_list", { kind: "table", ...(a.schema !== undefined ? { schema: a.schema } : {}) });
        case "pg.getColumns": {
          const r = await invoke(rc, "pg_schema_describe", { name: a.table });
          return r.ok ? { ok: true, value: (r.value as { detail?: { columns?: unknown } }).detail?.columns ?? [] } : r;
        }
        case "pg.getTableStats": {
          const r = await invoke(rc, "pg_admin_stats", { kind: "tables", table: a.table });
          return r.ok ? { ok: true, value: objects(r.value)[0] ?? null } : r;
        }
        case "pg.createIndex":
          return await invoke(rc, "pg_schema_create", { kind: "index", on: a.table, keys: a.columns, ...(a.name !== undefined ? { name: a.name } : {}), ...(a.concurrently !== undefined ? { concurrently: a.concurrently } : {}) });
        default: {
          const r = await invoke(rc, tool, args);
          if (r.ok && tool === "pg_tx_begin") run.openTx.add((r.value as { tx: string }).tx);
          if (tool === "pg_tx_commit" || tool === "pg_tx_rollback") run.openTx.delete(String(a.tx));
          return r;
        }
      }
    } catch (e) {
      return fail(e instanceof Error ? e.message : String(e));
    }
  }
}

async function invoke(rc: RequestContext, tool: string, args: unknown): Promise<CallResult> {
  try {
    const r = await callTool(rc, tool, args);
    if (r.isError) return fail(r.content.map((c) => c.text).join("\n"));
    return { ok: true, value: r.structuredContent };
  } catch (e) {
    // Unknown tool or invalid arguments: a protocol error for a direct call, a thrown error in a program.
    if (e instanceof ProtocolError) return fail(e.message, "invalid_call");
    throw e;
  }
}

function objects(v: unknown): Record<string, unknown>[] {
  const rs = v as { columns?: { name: string }[]; rows?: unknown[][] };
  if (!rs?.rows) return [];
  if (!rs.columns) return rs.rows as unknown as Record<string, unknown>[]; // already objects (catalog tools)
  return rs.rows.map((row) => Object.fromEntries(rs.columns!.map((c, i) => [c.name, row[i]])));
}
