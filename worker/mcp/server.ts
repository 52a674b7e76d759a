/**
 * The MCP server: a per-request McpServer (stateless, as createMcpHandler
 * wants) whose tools/list and tools/call are served from a catalog built once
 * per isolate. Building JSON Schemas and descriptions per request was the
 * largest share of per-call overhead in the first trial, so nothing here is
 * rebuilt per request except the McpServer itself.
 */
import { CLIENT_CAPABILITIES_META_KEY, McpServer, ProtocolError, ProtocolErrorCode } from "@modelcontextprotocol/server";
import { z } from "zod";
import { ROWS_PLACEMENTS, type Config, type RowsPlacement } from "../config";
import type { DbSession, RowSet } from "../db/session";
import { openSession } from "../db/session";
import { sessionName } from "../db/tags";
import { requestExecutor } from "../db/executor";
import { formatError, toErrorInfo } from "../tools/errors";
import { isRowSetOutput, placeRows } from "../tools/format";
import { ALL_TOOLS } from "../tools";
import { jsonSchema, toolVisible, type ToolContext, type ToolDefinition } from "../tools/registry";
import type { Principal } from "../auth/principal";
import type { RequestContext, ToolRun } from "../context";
import { AuditWriteError, recordAudit, shouldAudit } from "./audit";
import { guardText } from "./guard";
import { remoteExecutor, TX_ID_PATTERN } from "../tx/remote";
import { registerResources } from "./resources";
import { registerPrompts } from "./prompts";
import { cancelCall, serveCall } from "./calls";
import { noticeRelay } from "./logging";
import { confirmer, ConfirmationRequired } from "./confirm";
import { channelFor } from "../confirmation";

export const SERVER_INFO = { name: "pg-mcp", version: "0.1.0" } as const;

const INSTRUCTIONS =
  "PostgreSQL tools. Start with the schema tools (or pg_query_read on information_schema) to learn tables, then query. Values go in params ($1, $2...), never inline. Results are TSV: header name:type, \\N is NULL.";

export type { RequestContext } from "../context";

interface ListedTool {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: "object"; [k: string]: unknown };
  outputSchema: { type: "object"; [k: string]: unknown };
  annotations: ToolDefinition["annotations"];
}

interface CatalogEntry {
  def: ToolDefinition;
  /** Its result is a row set, whose rows a request may ask for once (placeRows). */
  rowSet: boolean;
  /** The input schema as validated and listed (with `tx` for transactional tools). */
  input: ToolDefinition["input"];
  outputSchema: Record<string, unknown>;
  listed: ListedTool;
}

interface Catalog {
  byName: Map<string, CatalogEntry>;
  listings: Map<string, { tools: ListedTool[] }>;
}

let catalog: Catalog | undefined;

const txArgument = z.string().regex(TX_ID_PATTERN, "a transaction id from pg_tx_begin").optional().describe("Transaction id");

function isTransactional(def: ToolDefinition): boolean {
  return def.transactional ?? (def.group === "query" || def.group === "schema");
}

function getCatalog(): Catalog {
  if (catalog) return catalog;
  const byName = new Map<string, CatalogEntry>();
  for (const def of ALL_TOOLS) {
    const outputSchema = jsonSchema(def.output, "output");
    // Tools that run SQL the caller chose can run inside a held transaction: they take `tx`.
    const input = isTransactional(def) ? def.input.extend({ tx: txArgument }) : def.input;
    const listed: ListedTool = {
      name: def.name,
      title: def.title,
      description: def.description,
      inputSchema: jsonSchema(input, "input") as ListedTool["inputSchema"],
      outputSchema: outputSchema as ListedTool["outputSchema"],
      annotations: def.annotations,
    };
    byName.set(def.name, { def, rowSet: isRowSetOutput(def.output), input, outputSchema, listed });
  }
  catalog = { byName, listings: new Map() };
  return catalog;
}

/** Tools visible to this caller in this deployment. */
export function visibleTools(config: Config, principal: Principal): ToolDefinition[] {
  return ALL_TOOLS.filter((t) => toolVisible(t, config, principal.scopes));
}

function listing(config: Config, principal: Principal): { tools: ListedTool[] } {
  const c = getCatalog();
  const key = `${config.toolGroups.join(",")}|${principal.scopes.join(",")}`;
  let hit = c.listings.get(key);
  if (!hit) {
    hit = { tools: visibleTools(config, principal).map((t) => c.byName.get(t.name)!.listed) };
    c.listings.set(key, hit);
  }
  return hit;
}

/**
 * Runs one tool call with every check a direct call gets (visibility by scope,
 * validation, the handler, audit). An unknown (or hidden) tool is a protocol
 * error (thrown); everything after, invalid arguments included, is a ToolRun.
 */
export async function runTool(rc: RequestContext, name: string, rawArgs: unknown): Promise<ToolRun> {
  const entry = getCatalog().byName.get(name);
  const def = entry?.def;
  // A tool the caller may not see is refused exactly like one that does not exist.
  if (!def || !toolVisible(def, rc.config, rc.principal.scopes)) {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
  }
  const parsed = entry!.input.safeParse(rawArgs ?? {});
  if (!parsed.success) {
    // SEP-1303: arguments the model got wrong are a tool result it can read and retry, naming the field; not a protocol error.
    const info = { code: "invalid_arguments", message: `Invalid arguments for tool ${name}: ${z.prettifyError(parsed.error)}` };
    return { ok: false, info, text: formatError(info) };
  }
  const started = Date.now();
  const audited = shouldAudit(def, parsed.data);
  const txId = (parsed.data as { tx?: string }).tx;
  // SQL tools outside a held transaction open a connection: it can open while admission is decided.
  return withToolContext(rc, async (ctx): Promise<ToolRun> => {
    let out: Awaited<ReturnType<typeof def.handler>>;
    try {
      out = await def.handler(parsed.data, ctx);
    } catch (e) {
      // The user must confirm first: nothing ran, nothing to audit; the client asks and calls again.
      if (e instanceof ConfirmationRequired) return { ok: false, info: { code: "input_required", message: e.message }, text: e.message, inputRequired: e.result };
      const info = toErrorInfo(e);
      const sql = typeof (parsed.data as { sql?: unknown }).sql === "string" ? (parsed.data as { sql: string }).sql : undefined;
      let text = formatError(info, sql);
      if (audited) {
        try {
          await recordAudit(rc, def, parsed.data, started, { outcome: "error", error: `${info.code}: ${info.message}` });
        } catch (a) {
          text += `\n${auditFailureText(a as AuditWriteError, "failed")}`;
        }
      }
      return { ok: false, info, text };
    }
    if (audited) {
      try {
        await recordAudit(rc, def, parsed.data, started, { outcome: "ok", structured: out.structured });
      } catch (a) {
        // Every write is recorded before its result returns: an unrecorded success is not reported as one.
        const e = a as AuditWriteError;
        return { ok: false, info: { code: e.code, message: e.message }, text: auditFailureText(e, "ran") };
      }
    }
    const text = rc.config.injectionGuard && def.untrusted !== false ? guardText(out.text) : out.text;
    return { ok: true, structured: out.structured, text };
  }, txId, confirmer(rc, name, parsed.data), { warm: !txId && isTransactional(def) });
}

/** The error a caller sees when its call was not recorded: what happened to the action, and that the log has a gap. */
function auditFailureText(e: AuditWriteError, action: "ran" | "failed"): string {
  const what = action === "ran" ? "The action ran (a write may have been committed) but" : "The action failed and";
  return `ERROR ${e.code}: ${e.message}\nDETAIL: ${what} it is not in the audit log.\nHINT: the deployment's AUDIT_LOG Durable Object is unavailable; check its binding and the Worker's logs before retrying.`;
}


/**
 * Runs one tool call as an MCP result: an unknown tool is a protocol error;
 * everything after is a tool result, or an input-required result when the
 * user must confirm first. A row set's rows go where `rows` says.
 */
export async function callTool(rc: RequestContext, name: string, rawArgs: unknown, rows: RowsPlacement = rc.config.resultRows) {
  const r = await runTool(rc, name, rawArgs);
  if (!r.ok && r.inputRequired) return { inputRequired: r.inputRequired };
  // No structuredContent on errors: clients validate it against the output schema even then.
  if (!r.ok) return { content: [{ type: "text" as const, text: r.text }], isError: true as const };
  const answer = getCatalog().byName.get(name)!.rowSet ? placeRows(r.structured as RowSet, r.text, rows) : r;
  return { content: [{ type: "text" as const, text: answer.text }], structuredContent: answer.structured as Record<string, unknown> };
}

/** The request `_meta` key a client names the rows' placement with (config.ts RowsPlacement). */
export const ROWS_META_KEY = "pg-mcp/rows";

/** The placement a tools/call asked for, or the deployment's; a value not understood is the client's error. */
function rowsPlacement(rc: RequestContext, meta: Record<string, unknown> | undefined): RowsPlacement {
  const asked = meta?.[ROWS_META_KEY];
  if (asked === undefined) return rc.config.resultRows;
  if (typeof asked === "string" && (ROWS_PLACEMENTS as readonly string[]).includes(asked)) return asked as RowsPlacement;
  throw new ProtocolError(ProtocolErrorCode.InvalidParams, `_meta "${ROWS_META_KEY}" must be one of ${ROWS_PLACEMENTS.map((p) => `"${p}"`).join(", ")}, got ${JSON.stringify(asked)}`);
}

/**
 * Runs `fn` with a tool context. Its connection is the request's own
 * (`rc.session`, kept open by whoever owns it) or one opened on first use
 * and closed afterwards. Tools, resources and prompts share it.
 */
export async function withToolContext<T>(rc: RequestContext, fn: (ctx: ToolContext) => Promise<T>, txId?: string, confirm?: ToolContext["confirm"], opts: { warm?: boolean } = {}): Promise<T> {
  let opening: Promise<DbSession> | undefined;
  const own = () => (opening ??= sessionName("call", rc.principal.id).then((applicationName) => openSession(rc.config, rc.env, { applicationName, onNotice: rc.onNotice, identity: rc.principal.db })));
  // A caller admitted last time most likely is again: its connection opens while its limits decide, not after.
  if (opts.warm && rc.warmConnection && rc.admitted && !rc.session) own().catch(() => {});
  try {
    await rc.admitted;
  } catch (e) {
    if (opening) rc.waitUntil(opening.then((s) => s.close(), () => {}));
    throw e;
  }
  const ctx: ToolContext = {
    config: rc.config,
    env: rc.env,
    principal: rc.principal,
    request: rc,
    sql: txId ? remoteExecutor(rc.env, txId, rc.principal, rc.call?.callName, rc.onNotice) : requestExecutor(rc.config, rc.session ?? own, rc.call, rc.principal.db),
    ...(txId ? { ownSql: requestExecutor(rc.config, rc.session ?? own, rc.call, rc.principal.db) } : {}),
    // Resources and prompts never destroy; a tool call gets its own confirmer (bound to its name and arguments).
    confirm: confirm ?? confirmer(rc, "this call", undefined),
  };
  try {
    return await fn(ctx);
  } finally {
    if (opening) rc.waitUntil(opening.then((s) => s.close(), () => {}));
  }
}

/** The McpServer for one request. */
export function buildServer(rc: RequestContext): McpServer {
  // logging: PostgreSQL's notices during a call (logging.ts); logging/setLevel is the SDK's.
  const mcp = new McpServer(SERVER_INFO, { capabilities: { tools: { listChanged: false }, logging: {} }, instructions: INSTRUCTIONS });
  const server = mcp.server;
  server.setRequestHandler("tools/list", () => listing(rc.config, rc.principal));
  server.setRequestHandler("tools/call", async (request, ctx) => {
    // Whether this client can be asked to confirm a destructive statement, and its answer when this is the retry.
    const confirmation = channelFor(server.getNegotiatedProtocolVersion(), (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY], ctx.mcpReq.inputResponses, ctx.mcpReq.requestState());
    const handle = { id: ctx.mcpReq.id, progressToken: request.params._meta?.progressToken, signal: ctx.mcpReq.signal, notify: ctx.mcpReq.notify };
    const rows = rowsPlacement(rc, request.params._meta);
    const notices = noticeRelay(rc, ctx, request.params);
    const outcome = await serveCall({ ...rc, onNotice: notices.onNotice, confirmation }, handle, request.params.name, (callRc) => callTool(callRc, request.params.name, request.params.arguments, rows));
    if (outcome.cancelled) {
      // A cancelled call's result is not sent: closing the exchange ends its response without one.
      await mcp.close();
      throw new ProtocolError(ProtocolErrorCode.InternalError, `request cancelled: ${outcome.reason}`);
    }
    const result = outcome.value;
    if ("inputRequired" in result) return result.inputRequired as { resultType: "input_required" };
    const summary = await notices.finish();
    if (summary) result.content.push({ type: "text", text: rc.config.injectionGuard ? guardText(summary) : summary });
    if (result.isError) return result;
    return server.projectCallToolResult(result, getCatalog().byName.get(request.params.name)!.outputSchema);
  });
  // Stateless: a cancel names a call served by another request (calls.ts).
  server.setNotificationHandler("notifications/cancelled", (notification) => {
    const { requestId, reason } = notification.params;
    if (requestId !== undefined) rc.waitUntil(cancelCall(rc, requestId, reason).catch(() => {}));
  });
  registerResources(mcp, rc);
  registerPrompts(mcp, rc);
  return mcp;
}
