/**
 * MCP resources: the database schema, browsable.
 *
 *   postgres://schema/{schema}/{table}   one table/view in full (as pg_schema_describe)
 *   postgres://schema/{schema}           the objects of a schema
 *   postgres://health                    the health report (as pg_monitor_health)
 *
 * resources/list lists the tables, views and materialized views, paged with
 * the protocol's opaque cursor (nextCursor). The templates' {schema} and
 * {table} complete from the catalog (completions.ts). Registration does no database
 * work; each read opens one connection (withToolContext) and closes it.
 */
import { McpServer, ProtocolError, ProtocolErrorCode, ResourceNotFoundError, ResourceTemplate, UriTemplate } from "@modelcontextprotocol/server";
import { quoteIdent } from "../sql/ident";
import { ToolError, formatError, toErrorInfo } from "../tools/errors";
import { renderRows, prettyBytes } from "../tools/catalog";
import { describeObject, listObjects, renderDescribed } from "../tools/schema.tools";
import { healthReport, renderHealth, rolePosture, viewerOf } from "../tools/monitor.tools";
import { describePosture } from "../db/posture";
import { callerApi } from "../tools/codemode.tools";
import { declarations } from "../../sandbox/api";
import { guardText } from "./guard";
import { withToolContext } from "./server";
import { nameCompleter } from "./completions";
import type { RequestContext } from "../context";

export const RESOURCE_PAGE_SIZE = 100;
const TEXT = "text/plain";
const TABLE_KINDS = ["table", "view", "matview"];

export const tableUri = (schema: string, table: string) => `postgres://schema/${encodeURIComponent(schema)}/${encodeURIComponent(table)}`;

/** Opaque to clients; for us, the last [schema, name] listed (keyset paging: tables created or dropped meanwhile do not shift pages). */
const encodeCursor = (after: [string, string]) => btoa(encodeURIComponent(JSON.stringify(after)));
function decodeCursor(cursor: string | undefined): [string, string] | undefined {
  if (cursor === undefined) return undefined;
  try {
    const after = JSON.parse(decodeURIComponent(atob(cursor))) as unknown;
    if (Array.isArray(after) && after.length === 2 && after.every((x) => typeof x === "string")) return after as [string, string];
  } catch {
    // fall through
  }
  throw new ProtocolError(ProtocolErrorCode.InvalidParams, "invalid cursor");
}

function variable(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v.join(",") : (v ?? "");
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `invalid percent-encoding in ${s}`);
  }
}

// URI templates are parsed once per isolate; each request's ResourceTemplate adds completions that query as that request's caller.
const TABLE_URI = new UriTemplate("postgres://schema/{schema}/{table}");
const SCHEMA_URI = new UriTemplate("postgres://schema/{schema}");

export function registerResources(mcp: McpServer, rc: RequestContext): void {
  mcp.server.registerCapabilities({ resources: { listChanged: false } });
  const guard = (text: string) => (rc.config.injectionGuard ? guardText(text) : text);
  /** Database work for one read; a tool failure (no such table) becomes a protocol error naming the URI. */
  const read = async (uri: URL, fn: Parameters<typeof withToolContext<string>>[1]) => {
    try {
      const text = await withToolContext(rc, fn);
      return { contents: [{ uri: uri.href, mimeType: TEXT, text: guard(text) }] };
    } catch (e) {
      if (e instanceof ToolError && e.code === "not_found") throw new ResourceNotFoundError(uri.href, e.message);
      if (e instanceof ProtocolError) throw e;
      throw new ProtocolError(ProtocolErrorCode.InternalError, formatError(toErrorInfo(e)));
    }
  };

  const names = nameCompleter(rc);
  const schema = (value: string) => names.schemas(value);
  mcp.registerResource(
    "table",
    new ResourceTemplate(TABLE_URI, { list: undefined, complete: { schema, table: (value, context) => names.tables(value, context?.arguments?.schema) } }),
    { title: "Table or view", description: "Columns, keys, foreign keys both ways, indexes, constraints, size", mimeType: TEXT },
    (uri, vars) => read(uri, async (ctx) => renderDescribed(await describeObject(ctx.sql, `${quoteIdent(variable(vars.schema))}.${quoteIdent(variable(vars.table))}`))),
  );

  mcp.registerResource(
    "schema",
    new ResourceTemplate(SCHEMA_URI, { list: undefined, complete: { schema } }),
    { title: "Schema", description: "The tables, views, sequences and functions of one schema", mimeType: TEXT },
    (uri, vars) =>
      read(uri, async (ctx) => {
        const schema = variable(vars.schema);
        const { rows, nextOffset } = await listObjects(ctx.sql, { schema, limit: 1000 });
        if (rows.length === 0) throw new ToolError("not_found", `no schema named ${schema}, or it is empty`);
        return renderRows(
          rows.map((r) => ({ ...r, bytes: r.bytes === null ? null : prettyBytes(r.bytes) })),
          ["name", "kind", "rows", "bytes", "comment"],
          nextOffset,
        );
      }),
  );

  mcp.registerResource("health", "postgres://health", { title: "Health report", description: "pg_monitor_health: each check ok/warn/critical with a reason", mimeType: TEXT }, (uri) =>
    read(uri, async (ctx) => renderHealth(await healthReport(ctx.sql, ctx.config, await viewerOf(ctx.principal)))),
  );

  // Code mode's whole API as TypeScript, for the tools this caller may use (the pg_execute_code listing only names the core).
  if (rc.config.toolGroups.includes("codemode") || rc.config.toolGroups.includes("code")) {
    mcp.registerResource("codemode-api", "postgres://codemode/api", { title: "Code mode API", description: "TypeScript declarations of pg inside pg_execute_code programs", mimeType: "text/plain" }, (uri) => ({
      contents: [{ uri: uri.href, mimeType: "text/plain", text: declarations(callerApi(rc.config, rc.principal.scopes).entries) }],
    }));
  }

  mcp.registerResource("posture", "postgres://posture", { title: "Database role posture", description: "What the server's role and the read role may do, and what to revoke", mimeType: TEXT }, (uri) =>
    read(uri, async (ctx) => describePosture(await rolePosture(ctx.sql, ctx.config)).join("\n")),
  );

  // The SDK's resources/list ignores the cursor; this one pages through the tables.
  mcp.server.setRequestHandler("resources/list", async (request) => {
    const after = decodeCursor(request.params?.cursor);
    const page = await withToolContext(rc, (ctx) => listObjects(ctx.sql, { kinds: TABLE_KINDS, limit: RESOURCE_PAGE_SIZE, after: after ?? ["", ""] }));
    const resources = page.rows.map((r) => ({
      uri: tableUri(String(r.schema), String(r.name)),
      name: `${r.schema}.${r.name}`,
      description: `${r.kind}${r.rows !== null ? `, ~${r.rows} rows` : ""}${r.comment ? `: ${r.comment}` : ""}`,
      mimeType: TEXT,
    }));
    if (!after) resources.unshift({ uri: "postgres://health", name: "health", description: "health report", mimeType: TEXT }, { uri: "postgres://posture", name: "posture", description: "the database role's privileges", mimeType: TEXT });
    const last = page.rows[page.rows.length - 1];
    return { resources, ...(page.nextOffset !== undefined && last ? { nextCursor: encodeCursor([String(last.schema), String(last.name)]) } : {}) };
  });
}

