/**
 * Group `vector`: pgvector. Nearest-neighbour search, upserts, indexes and
 * distances. Each call first reads the extension's version and schema (and the
 * table's columns) in one catalog query, so a server without pgvector gets a
 * clear answer instead of "type vector does not exist", features are matched to
 * the installed version, and operators and types are schema-qualified (the
 * extension need not be on the search_path). Vectors travel as bind
 * parameters in pgvector's text form ('[1,2,3]'); names go through sql/ident.
 */
import { z } from "zod";
import type { RowSet } from "../db/session";
import { parseQualifiedName, quoteIdent, quoteQualified, MAX_IDENTIFIER_BYTES } from "../sql/ident";
import { ident, int, qname } from "./catalog";
import { ToolError } from "./errors";
import { INFO_SQL } from "./vector-info";
import { RowSetSchema, renderRowSet } from "./format";
import { ADDITIVE, READ, defineTool, type ToolAnnotations, type ToolContext } from "./registry";

// ---------------------------------------------------------------------------
// Metrics, types and what each pgvector version supports

export const METRICS = ["l2", "ip", "cosine", "l1", "hamming", "jaccard"] as const;
export type Metric = (typeof METRICS)[number];
type VecType = "vector" | "halfvec" | "sparsevec" | "bit";

const OPERATOR: Record<Metric, string> = { l2: "<->", ip: "<#>", cosine: "<=>", l1: "<+>", hamming: "<~>", jaccard: "<%>" };
const BIT_METRICS: readonly Metric[] = ["hamming", "jaccard"];
/** Largest finite value of each element type (float4, float2). */
const MAX_ELEMENT: Record<VecType, number> = { vector: 3.4028234663852886e38, halfvec: 65504, sparsevec: 3.4028234663852886e38, bit: 1 };

type Version = [number, number, number];
const parseVersion = (v: string): Version => {
  const [a = 0, b = 0, c = 0] = v.split(".").map((x) => parseInt(x, 10) || 0);
  return [a, b, c];
};
const atLeast = (have: Version, want: string) => {
  const w = parseVersion(want);
  for (let i = 0; i < 3; i++) if (have[i] !== w[i]) return have[i]! > w[i]!;
  return true;
};

// ---------------------------------------------------------------------------
// Shared input fragments

// tools/list goes into a model's context, so these stay terse; catalog.ts's
// fragments enforce bounds without listing them.
const tableArg = qname.describe("[schema.]table");
const columnArg = ident.optional().describe("default: the vector column");
/** JSON numbers, or pgvector's text form ('[1,2,3]', as a query returns it). */
const vectorSchema = z.union([z.array(z.number()), z.string()]);
const metricSchema = z.enum(METRICS).default("l2");

// ---------------------------------------------------------------------------
// The extension and the table, in one catalog read

interface ColumnInfo {
  name: string;
  type: string;
  typmod: number;
  /** The type lives in the extension's schema. */
  ext: boolean | null;
  sqltype: string;
}

interface VectorColumn {
  name: string;
  type: VecType;
  /** null: any dimension */
  dims: number | null;
}

export interface Pgvector {
  version: Version;
  versionText: string;
  /** Quoted schema of the extension, for qualified types and operators. */
  schema: string;
  table?: { sql: string; exists: boolean; columns: ColumnInfo[]; pk: string[] };
}


/** What a server without pgvector answers, for every tool of the group. */
export function pgvectorMissing(available: boolean): ToolError {
  return available
    ? new ToolError("extension_missing", "the pgvector extension (vector) is not installed in this database", "enable it with CREATE EXTENSION vector (an admin key through pg_query_write, or the database owner; needs the CREATE privilege on the database)")
    : new ToolError("extension_missing", "the pgvector extension (vector) is not available on this server: it is not in pg_available_extensions", "install pgvector on the PostgreSQL server (or use a provider that ships it), then run CREATE EXTENSION vector");
}

/** Reads the installed pgvector (refusing when there is none) and, if given, the table's columns and primary key. */
export async function pgvector(ctx: ToolContext, table?: string): Promise<Pgvector> {
  const tableSql = table === undefined ? undefined : quoteQualified(parseQualifiedName(table));
  const [row] = await ctx.sql.rows<{ version: string | null; schema: string | null; available: boolean | null; table_exists: boolean; columns: ColumnInfo[]; pk: string[] }>(INFO_SQL, [tableSql ?? null, !!ctx.sql.callerRole]);
  if (!row?.version || !row.schema) throw pgvectorMissing(!!row?.available);
  const info: Pgvector = { version: parseVersion(row.version), versionText: row.version, schema: quoteIdent(row.schema) };
  if (tableSql) info.table = { sql: tableSql, exists: row.table_exists, columns: row.columns, pk: row.pk };
  return info;
}

/**
 * pg_vector_search's catalog answer, kept per isolate for INFO_TTL_MS: a search
 * is then one round trip, not two (the catalog read cannot be pipelined with
 * the search, which is built from its answer). Only what a table that exists
 * answered is kept, per caller role (a role's answer hides what it may not
 * use). A stale answer never decides anything: the search runs as the caller,
 * so PostgreSQL still checks the table, the column and its privileges; and a
 * search that fails with an entry from here is answered again from a fresh
 * read (a column or dimension that changed), once.
 */
const INFO_TTL_MS = 30_000;
const INFO_MAX_ENTRIES = 256;
const searchInfo = new WeakMap<object, Map<string, { at: number; info: Pgvector }>>();

function infoCache(ctx: ToolContext): Map<string, { at: number; info: Pgvector }> {
  let m = searchInfo.get(ctx.config);
  if (!m) searchInfo.set(ctx.config, (m = new Map()));
  return m;
}
const infoKey = (ctx: ToolContext, table: string) => `${ctx.sql.callerRole ?? ""}\u0000${table}`;

function cachedInfo(ctx: ToolContext, table: string): Pgvector | undefined {
  const m = infoCache(ctx);
  const e = m.get(infoKey(ctx, table));
  if (e && Date.now() - e.at < INFO_TTL_MS) return e.info;
  if (e) m.delete(infoKey(ctx, table));
  return undefined;
}

function rememberInfo(ctx: ToolContext, table: string, info: Pgvector): void {
  if (!info.table?.exists) return;
  const m = infoCache(ctx);
  if (m.size >= INFO_MAX_ENTRIES) m.delete(m.keys().next().value!);
  m.set(infoKey(ctx, table), { at: Date.now(), info });
}

/** An error a changed table explains: a name, type or dimension the kept answer had wrong. */
function staleShaped(e: unknown): boolean {
  if (e instanceof ToolError) return ["undefined_table", "undefined_column", "not_a_vector", "ambiguous_column", "dimension_mismatch", "invalid_metric"].includes(e.code);
  const code = (e as { code?: unknown } | null)?.code;
  // 42xxx (undefined table/column, wrong type or operator) and 22xxx (pgvector's dimension checks).
  return typeof code === "string" && /^(42|22)/.test(code) && code !== "42501";
}

function needVersion(pv: Pgvector, want: string, what: string): void {
  if (!atLeast(pv.version, want)) throw new ToolError("feature_not_supported", `${what} needs pgvector ${want} or later; this database has ${pv.versionText}`, "ALTER EXTENSION vector UPDATE after upgrading pgvector on the server");
}

function vectorType(c: ColumnInfo): VecType | undefined {
  if (c.type === "bit") return "bit";
  if (c.ext && (c.type === "vector" || c.type === "halfvec" || c.type === "sparsevec")) return c.type;
  return undefined;
}

/** The table's vector column: the one named, or the only one. */
function vectorColumn(pv: Pgvector, tableName: string, column?: string): VectorColumn {
  const t = pv.table!;
  if (!t.exists) throw new ToolError("undefined_table", `table ${tableName} does not exist`, "check the name (names are exact, case included); pg_vector_upsert with create: true makes one");
  const pick = (c: ColumnInfo): VectorColumn => {
    const type = vectorType(c);
    if (!type) throw new ToolError("not_a_vector", `column ${c.name} is ${c.sqltype}, not vector, halfvec, sparsevec or bit`);
    return { name: c.name, type, dims: c.typmod > 0 ? c.typmod : null };
  };
  if (column !== undefined) {
    const c = t.columns.find((x) => x.name === column);
    if (!c) throw new ToolError("undefined_column", `column ${column} does not exist in ${tableName}`, `columns: ${t.columns.map((x) => x.name).join(", ")}`);
    return pick(c);
  }
  const candidates = t.columns.filter((c) => vectorType(c) !== undefined);
  if (candidates.length === 1) return pick(candidates[0]!);
  if (candidates.length === 0) throw new ToolError("not_a_vector", `${tableName} has no vector column`, `columns: ${t.columns.map((x) => `${x.name} ${x.sqltype}`).join(", ")}`);
  throw new ToolError("ambiguous_column", `${tableName} has several vector columns (${candidates.map((c) => c.name).join(", ")})`, "pass column");
}

function checkMetric(pv: Pgvector, metric: Metric, type: VecType): void {
  const bit = BIT_METRICS.includes(metric);
  if (bit !== (type === "bit")) throw new ToolError("invalid_metric", `metric ${metric} does not apply to ${type} ${type === "bit" ? "columns (use hamming or jaccard)" : "columns (use l2, ip, cosine or l1)"}`);
  if (metric === "l1" || bit) needVersion(pv, "0.7.0", `metric ${metric}`);
}

// ---------------------------------------------------------------------------
// Vectors: validated here, sent as text

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A vector from JSON numbers or pgvector text; every element must be a finite number. */
export function parseVector(input: number[] | string, label: string): number[] {
  let values: number[];
  if (typeof input === "string") {
    const s = input.trim();
    if (/^[01]+$/.test(s)) values = [...s].map(Number);
    else {
      const m = /^\[([\s\S]*)\]$/.exec(s);
      if (!m) throw new ToolError("invalid_vector", `${label} is not a vector: expected an array of numbers or text like '[1,2,3]'`);
      const parts = m[1]!.split(",").map((x) => x.trim());
      values = parts.map((x, i) => {
        if (!NUMBER.test(x)) throw new ToolError("invalid_vector", `${label}: element ${i + 1} is not a finite number ("${x.slice(0, 20)}")`);
        return Number(x);
      });
    }
  } else values = input;
  if (values.length === 0) throw new ToolError("invalid_vector", `${label} is empty`);
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) throw new ToolError("invalid_vector", `${label}: element ${i + 1} is not a finite number (${String(values[i])})`);
  return values;
}

/** The text form PostgreSQL parses for the column's type. */
export function vectorLiteral(values: number[], type: VecType, label: string): string {
  const max = MAX_ELEMENT[type];
  if (type === "bit") {
    const bad = values.findIndex((v) => v !== 0 && v !== 1);
    if (bad >= 0) throw new ToolError("invalid_vector", `${label}: element ${bad + 1} is ${values[bad]}; a bit vector holds 0 and 1`);
    return values.join("");
  }
  const over = values.findIndex((v) => Math.abs(v) > max);
  if (over >= 0) throw new ToolError("invalid_vector", `${label}: element ${over + 1} (${values[over]}) is out of range for ${type} (max ${max})`);
  if (type === "sparsevec") {
    const parts: string[] = [];
    values.forEach((v, i) => v !== 0 && parts.push(`${i + 1}:${v}`));
    return `{${parts.join(",")}}/${values.length}`;
  }
  return `[${values.join(",")}]`;
}

function checkDims(values: number[], dims: number | null, label: string): void {
  if (dims !== null && values.length !== dims) throw new ToolError("dimension_mismatch", `${label} has ${values.length} dimensions; the column has ${dims}`);
}

/** A cast target for a parameter: the extension's type, or bit(n). */
const castType = (pv: Pgvector, type: VecType, dims: number) => (type === "bit" ? `bit(${dims})` : `${pv.schema}.${type}`);
const operator = (pv: Pgvector, metric: Metric) => `OPERATOR(${pv.schema}.${OPERATOR[metric]})`;

// ---------------------------------------------------------------------------
// Structured filters: names through ident, values as parameters

const FILTER_OPS = ["=", "!=", "<", "<=", ">", ">=", "in"] as const;

const filterSchema = z
  .array(
    z.object({
      column: ident,
      key: z.string().optional(),
      op: z.enum(FILTER_OPS),
      value: z.unknown(),
    }),
  )
  .max(20)
  .optional()
  .describe("ANDed; key: jsonb key");

type Filter = NonNullable<z.infer<typeof filterSchema>>[number];
type Scalar = string | number | boolean;
const isScalar = (v: unknown): v is Scalar => typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));

/** `WHERE` conditions for structured filters; appends their values to `params`. */
export function filterSql(filters: Filter[], params: unknown[]): string[] {
  return filters.map((f, i) => {
    const label = `filter[${i}]`;
    const col = quoteIdent(f.column);
    let expr = col;
    if (f.key !== undefined) {
      params.push(f.key);
      expr = `(${col} ->> $${params.length})`;
    }
    if (f.op === "in") {
      if (!Array.isArray(f.value) || f.value.length === 0 || f.value.length > 1000 || !f.value.every(isScalar)) {
        throw new ToolError("invalid_filter", `${label}: in needs a non-empty array (at most 1000) of strings, numbers or booleans`);
      }
      const values = f.value as Scalar[];
      if (f.key !== undefined) {
        const cast = values.every((v) => typeof v === "number") ? "numeric" : values.every((v) => typeof v === "boolean") ? "boolean" : "text";
        if (cast !== "text") expr = `${expr}::${cast}`;
        params.push(values.map(String));
        return `${expr} = ANY($${params.length}::${cast}[])`;
      }
      params.push(values);
      return `${expr} = ANY($${params.length})`;
    }
    if (f.value === null || f.value === undefined) {
      if (f.op === "=") return `${expr} IS NULL`;
      if (f.op === "!=") return `${expr} IS NOT NULL`;
      throw new ToolError("invalid_filter", `${label}: ${f.op} needs a value`);
    }
    if (!isScalar(f.value)) throw new ToolError("invalid_filter", `${label}: value must be a string, number, boolean or null`);
    if (f.key !== undefined && typeof f.value !== "string") expr = `${expr}::${typeof f.value === "number" ? "numeric" : "boolean"}`;
    params.push(f.value);
    return `${expr} ${f.op === "!=" ? "<>" : f.op} $${params.length}`;
  });
}

// ---------------------------------------------------------------------------
// pg_vector_search

const SearchInput = z.object({
  table: tableArg,
  column: columnArg,
  vector: vectorSchema,
  metric: metricSchema,
  k: int(1, 1000).default(10),
  filter: filterSchema,
  select: z.array(ident).max(50).optional(),
  efSearch: int(1, 1000).optional(),
  probes: int(1, 32768).optional(),
  iterative: z.boolean().optional().describe("for selective filters"),
});

export const vectorSearch = defineTool({
  name: "pg_vector_search",
  group: "vector",
  title: "Nearest-neighbour vector search",
  description: "k nearest rows to a vector (pgvector), filtered: primary key, distance (ip: negative inner product), select columns. efSearch/probes raise recall.",
  scope: "read",
  input: SearchInput,
  output: RowSetSchema,
  annotations: READ,
  async handler(args, ctx) {
    const values = parseVector(args.vector, "vector");
    const kept = cachedInfo(ctx, args.table);
    if (kept) {
      try {
        return await search(args, ctx, values, kept);
      } catch (e) {
        infoCache(ctx).delete(infoKey(ctx, args.table));
        if (!staleShaped(e)) throw e;
      }
    }
    const pv = await pgvector(ctx, args.table);
    const out = await search(args, ctx, values, pv);
    rememberInfo(ctx, args.table, pv);
    return out;
  },
});

/** The search itself, from a catalog answer (kept or fresh). */
async function search(args: z.infer<typeof SearchInput>, ctx: ToolContext, values: number[], pv: Pgvector) {
  const col = vectorColumn(pv, args.table, args.column);
  checkMetric(pv, args.metric, col.type);
  checkDims(values, col.dims, "vector");
  const params: unknown[] = [vectorLiteral(values, col.type, "vector")];
  const distance = `${quoteIdent(col.name)} ${operator(pv, args.metric)} $1::${castType(pv, col.type, values.length)}`;
  const keys = pv.table!.pk.map(quoteIdent);
  const extra = (args.select ?? []).filter((c) => !pv.table!.pk.includes(c)).map(quoteIdent);
  const where = filterSql(args.filter ?? [], params);
  params.push(args.k);
  let sql = `SELECT ${[...keys, `${distance} AS distance`, ...extra].join(", ")} FROM ${pv.table!.sql}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY ${distance} LIMIT $${params.length}`;

  const settings: Record<string, string | number> = {};
  // HNSW returns at most ef_search rows (default 40): raise it to k unless the caller chose.
  if (args.efSearch !== undefined) settings["hnsw.ef_search"] = args.efSearch;
  else if (args.k > 40) settings["hnsw.ef_search"] = args.k;
  if (args.probes !== undefined) settings["ivfflat.probes"] = args.probes;
  if (args.iterative) {
    needVersion(pv, "0.8.0", "iterative index scans");
    settings["hnsw.iterative_scan"] = "relaxed_order";
    settings["ivfflat.iterative_scan"] = "relaxed_order";
    // relaxed_order may return rows slightly out of order; sort the k rows again.
    sql = `WITH r AS MATERIALIZED (${sql}) SELECT * FROM r ORDER BY distance`;
  }
  const rs = await ctx.sql.read(sql, params, { maxRows: args.k }, { settings });
  return { structured: rs, text: renderRowSet(rs) };
}

// ---------------------------------------------------------------------------
// pg_vector_upsert

const UpsertOutput = z.object({ table: z.string(), created: z.boolean(), inserted: z.number(), updated: z.number() });

/** Rows per call: one multi-row INSERT (3 parameters a row), so a call is atomic. */
const MAX_UPSERT_ROWS = 1000;
const MAX_DIMENSIONS = 16_000;

const UPSERT_ANNOTATIONS: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false };

export const vectorUpsert = defineTool({
  name: "pg_vector_upsert",
  cost: "expensive",
  group: "vector",
  title: "Insert or update vectors",
  description: `Insert or update rows (id, vector, jsonb metadata) by primary key, atomically. create: true makes the table (id, embedding vector(n), metadata) if missing.`,
  scope: "write",
  input: z.object({
    table: tableArg,
    column: columnArg,
    rows: z
      .array(z.object({ id: z.union([z.string(), z.number().int()]), vector: vectorSchema, metadata: z.record(z.string(), z.unknown()).optional() }))
      .min(1)
      .max(MAX_UPSERT_ROWS),
    create: z.boolean().optional(),
    dimensions: int(1, MAX_DIMENSIONS).optional().describe("for create"),
  }),
  output: UpsertOutput,
  annotations: UPSERT_ANNOTATIONS,
  async handler(args, ctx) {
    const vectors = args.rows.map((r, i) => parseVector(r.vector, `rows[${i}].vector`));
    const seen = new Set<string>();
    args.rows.forEach((r, i) => {
      const key = `${typeof r.id}:${r.id}`;
      if (seen.has(key)) throw new ToolError("duplicate_id", `rows[${i}].id ${JSON.stringify(r.id)} appears twice in this call`);
      seen.add(key);
    });
    const dims = args.dimensions ?? vectors[0]!.length;
    vectors.forEach((v, i) => {
      if (v.length !== dims) throw new ToolError("dimension_mismatch", `rows[${i}].vector has ${v.length} dimensions; expected ${dims}`);
    });
    const withMetadata = args.rows.some((r) => r.metadata !== undefined);

    const pv = await pgvector(ctx, args.table);
    const t = pv.table!;
    let created = false;
    let col: VectorColumn;
    let idColumn: string;
    if (!t.exists) {
      if (!args.create) throw new ToolError("undefined_table", `table ${args.table} does not exist`, "pass create: true to create it");
      if (dims > MAX_DIMENSIONS) throw new ToolError("dimension_mismatch", `vector(${dims}) exceeds pgvector's ${MAX_DIMENSIONS} dimensions`);
      const idType = args.rows.every((r) => typeof r.id === "number") ? "bigint" : "text";
      await ctx.sql.write(`CREATE TABLE IF NOT EXISTS ${t.sql} (id ${idType} PRIMARY KEY, embedding ${pv.schema}.vector(${dims}) NOT NULL, metadata jsonb)`);
      created = true;
      col = { name: "embedding", type: "vector", dims };
      idColumn = "id";
    } else {
      col = vectorColumn(pv, args.table, args.column);
      if (t.pk.length !== 1) throw new ToolError("no_primary_key", `${args.table} needs a one-column primary key to upsert by id (it has ${t.pk.length ? t.pk.join(", ") : "none"})`);
      idColumn = t.pk[0]!;
      if (withMetadata) {
        const m = t.columns.find((c) => c.name === "metadata");
        if (!m || (m.type !== "jsonb" && m.type !== "json")) throw new ToolError("undefined_column", `${args.table} has no json/jsonb column named metadata for the rows' metadata`);
      }
    }
    vectors.forEach((v, i) => checkDims(v, col.dims, `rows[${i}].vector`));

    // Unknown-typed parameters take the target columns' types, so no casts are needed.
    const params: unknown[] = [];
    const tuples = args.rows.map((r, i) => {
      params.push(r.id, vectorLiteral(vectors[i]!, col.type, `rows[${i}].vector`));
      if (withMetadata) params.push(r.metadata === undefined ? null : JSON.stringify(r.metadata));
      const n = params.length;
      return withMetadata ? `($${n - 2}, $${n - 1}, $${n})` : `($${n - 1}, $${n})`;
    });
    const id = quoteIdent(idColumn);
    const vec = quoteIdent(col.name);
    const sets = [`${vec} = EXCLUDED.${vec}`];
    // Rows without metadata keep what they had.
    if (withMetadata) sets.push(`metadata = COALESCE(EXCLUDED.metadata, _t.metadata)`);
    const sql = `WITH u AS (INSERT INTO ${t.sql} AS _t (${[id, vec, ...(withMetadata ? ["metadata"] : [])].join(", ")}) VALUES ${tuples.join(", ")}
ON CONFLICT (${id}) DO UPDATE SET ${sets.join(", ")} RETURNING (xmax = 0) AS inserted)
SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*)::int AS total FROM u`;
    const rs = await ctx.sql.write(sql, params);
    const [inserted, total] = rs.rows[0] as [number, number];
    const type = `${col.type}(${col.dims ?? dims})`;
    const structured = { table: t.sql, created, inserted, updated: total - inserted };
    return { structured, text: `${created ? `created ${t.sql} (id, embedding ${type}, metadata jsonb); ` : ""}upserted ${total}: ${inserted} inserted, ${total - inserted} updated` };
  },
});

// ---------------------------------------------------------------------------
// pg_vector_create_index

const IndexOutput = z.object({ index: z.string(), sql: z.string() });

/** The longest prefix of `s` that fits PostgreSQL's identifier length. */
function fitName(s: string): string {
  const enc = new TextEncoder();
  let out = s;
  while (enc.encode(out).length > MAX_IDENTIFIER_BYTES) out = out.slice(0, -1);
  return out;
}

export const vectorCreateIndex = defineTool({
  name: "pg_vector_create_index",
  cost: "expensive",
  group: "vector",
  title: "Create a vector index",
  description: "Index a vector column: HNSW (m, efConstruction) or IVFFlat (lists), for one metric (searches by that metric use it).",
  scope: "write",
  input: z.object({
    table: tableArg,
    column: columnArg,
    method: z.enum(["hnsw", "ivfflat"]),
    metric: metricSchema,
    m: int(2, 100).optional(),
    efConstruction: int(4, 1000).optional(),
    lists: int(1, 32768).optional(),
    name: ident.optional(),
    concurrently: z.boolean().optional(),
  }),
  output: IndexOutput,
  annotations: ADDITIVE,
  async handler(args, ctx) {
    if (args.method === "hnsw" && args.lists !== undefined) throw new ToolError("invalid_option", "lists is an IVFFlat option; HNSW takes m and efConstruction");
    if (args.method === "ivfflat" && (args.m !== undefined || args.efConstruction !== undefined)) throw new ToolError("invalid_option", "m and efConstruction are HNSW options; IVFFlat takes lists");
    const pv = await pgvector(ctx, args.table);
    if (args.method === "hnsw") needVersion(pv, "0.5.0", "HNSW indexes");
    const col = vectorColumn(pv, args.table, args.column);
    checkMetric(pv, args.metric, col.type);
    if (args.method === "ivfflat" && (args.metric === "l1" || args.metric === "jaccard" || col.type === "sparsevec")) {
      throw new ToolError("feature_not_supported", `IVFFlat has no operator class for ${col.type} with ${args.metric}`, "use method: hnsw");
    }
    if (col.type !== "vector" || args.metric === "l1") needVersion(pv, "0.7.0", `${col.type}_${args.metric}_ops`);
    const opclass = `${col.type}_${args.metric}_ops`;
    const options: string[] = [];
    if (args.m !== undefined) options.push(`m = ${args.m}`);
    if (args.efConstruction !== undefined) options.push(`ef_construction = ${args.efConstruction}`);
    if (args.lists !== undefined) options.push(`lists = ${args.lists}`);
    const table = parseQualifiedName(args.table);
    const name = args.name ?? fitName(`${table.name}_${col.name}_${args.method}_${args.metric}`);
    const sql = `CREATE INDEX${args.concurrently ? " CONCURRENTLY" : ""} ${quoteIdent(name)} ON ${pv.table!.sql} USING ${args.method} (${quoteIdent(col.name)} ${pv.schema}.${opclass})${options.length ? ` WITH (${options.join(", ")})` : ""}`;
    if (args.concurrently) await ctx.sql.standalone(sql);
    else await ctx.sql.write(sql);
    return { structured: { index: name, sql }, text: `${sql}\n[CREATE INDEX]` };
  },
});

// ---------------------------------------------------------------------------
// pg_vector_distance

export const vectorDistance = defineTool({
  name: "pg_vector_distance",
  group: "vector",
  title: "Distance between vectors",
  description: "Distance between vectors a and b, or from a to the table rows with primary keys ids.",
  scope: "read",
  input: z.object({
    a: vectorSchema,
    b: vectorSchema.optional(),
    table: tableArg.optional(),
    column: columnArg,
    ids: z.array(z.union([z.string(), z.number()])).min(1).max(1000).optional(),
    metric: metricSchema,
  }),
  output: RowSetSchema,
  annotations: READ,
  async handler(args, ctx) {
    if ((args.b === undefined) === (args.table === undefined)) throw new ToolError("invalid_arguments", "pass either b (a second vector) or table and ids");
    const a = parseVector(args.a, "a");
    let rs: RowSet;
    if (args.b !== undefined) {
      const b = parseVector(args.b, "b");
      if (a.length !== b.length) throw new ToolError("dimension_mismatch", `a has ${a.length} dimensions, b has ${b.length}`);
      const pv = await pgvector(ctx);
      const type: VecType = BIT_METRICS.includes(args.metric) ? "bit" : "vector";
      checkMetric(pv, args.metric, type);
      const cast = castType(pv, type, a.length);
      rs = await ctx.sql.read(`SELECT $1::${cast} ${operator(pv, args.metric)} $2::${cast} AS distance`, [vectorLiteral(a, type, "a"), vectorLiteral(b, type, "b")]);
    } else {
      if (!args.ids) throw new ToolError("invalid_arguments", "with table, pass ids (primary key values of the rows to compare with)", "pg_vector_search finds the nearest rows instead");
      const pv = await pgvector(ctx, args.table);
      const col = vectorColumn(pv, args.table!, args.column);
      checkMetric(pv, args.metric, col.type);
      checkDims(a, col.dims, "a");
      const pk = pv.table!.pk;
      if (pk.length !== 1) throw new ToolError("no_primary_key", `${args.table} needs a one-column primary key to look rows up by id`);
      const id = quoteIdent(pk[0]!);
      rs = await ctx.sql.read(
        `SELECT ${id}, ${quoteIdent(col.name)} ${operator(pv, args.metric)} $1::${castType(pv, col.type, a.length)} AS distance FROM ${pv.table!.sql} WHERE ${id} = ANY($2) ORDER BY 2`,
        [vectorLiteral(a, col.type, "a"), args.ids],
      );
    }
    return { structured: rs, text: renderRowSet(rs) };
  },
});

export const vectorTools = [vectorSearch, vectorUpsert, vectorCreateIndex, vectorDistance];
