/**
 * The pgvector tools through the real Worker against PGlite (PostgreSQL in
 * WebAssembly with pgvector 0.8; the embedded PostgreSQL has no pgvector), with
 * a plain pg observer on the same database. Results are checked against
 * distances computed here. The regular Worker (no pgvector on its server)
 * must answer every vector tool with a clear message.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import pg from "pg";
import { call, connectClient, ok, text } from "../support/mcp";
import { uniqueName } from "../support/db";
import { rng } from "../../scripts/lib/rng";

let client: Client;
let plain: Client;
let db: pg.Client;
beforeAll(async () => {
  client = await connectClient(inject("vectorMcpUrl"));
  plain = await connectClient(inject("mcpUrl"));
  db = new pg.Client({ connectionString: inject("vectorDatabaseUrl") });
  await db.connect();
});
afterAll(async () => {
  await client?.close();
  await plain?.close();
  await db?.end();
});


const DISTANCE = {
  l2: (a: number[], b: number[]) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0)),
  ip: (a: number[], b: number[]) => -a.reduce((s, x, i) => s + x * b[i]!, 0),
  cosine: (a: number[], b: number[]) => {
    const dot = a.reduce((s, x, i) => s + x * b[i]!, 0);
    return 1 - dot / (Math.hypot(...a) * Math.hypot(...b));
  },
  l1: (a: number[], b: number[]) => a.reduce((s, x, i) => s + Math.abs(x - b[i]!), 0),
};
type Metric = keyof typeof DISTANCE;

/** The k smallest distances from q to every vector, by brute force. */
function exact(vectors: number[][], q: number[], metric: Metric, k: number): number[] {
  return vectors.map((v) => DISTANCE[metric](v, q)).sort((a, b) => a - b).slice(0, k);
}

interface RowSet {
  columns: { name: string; type: string }[];
  rows: unknown[][];
}

const indexdefs = async (table: string) => (await db.query("select indexname, indexdef from pg_indexes where tablename = $1 order by indexname", [table])).rows as { indexname: string; indexdef: string }[];

describe("pg_vector_upsert", () => {
  it("creates the table with the vectors' dimension, inserts, then updates by id keeping metadata it was not sent", async () => {
    const t = uniqueName("vec_up");
    const first = await ok(client, "pg_vector_upsert", {
      table: t,
      create: true,
      rows: [
        { id: 1, vector: [1, 2, 3], metadata: { tag: "a" } },
        { id: 2, vector: "[4, 5, 6]", metadata: { tag: "b" } },
      ],
    });
    expect(first).toEqual({ table: `"${t}"`, created: true, inserted: 2, updated: 0 });
    const cols = await db.query("select attname, format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = $1::regclass and attnum > 0 order by attnum", [t]);
    expect(cols.rows).toEqual([
      { attname: "id", type: "bigint" },
      { attname: "embedding", type: "vector(3)" },
      { attname: "metadata", type: "jsonb" },
    ]);
    const second = await ok(client, "pg_vector_upsert", { table: t, rows: [{ id: 2, vector: [7, 8, 9] }, { id: 3, vector: [0, 0, 1], metadata: { tag: "c" } }] });
    expect(second).toEqual({ table: `"${t}"`, created: false, inserted: 1, updated: 1 });
    const stored = await db.query(`select id::int, embedding::text, metadata from "${t}" order by id`);
    expect(stored.rows).toEqual([
      { id: 1, embedding: "[1,2,3]", metadata: { tag: "a" } },
      { id: 2, embedding: "[7,8,9]", metadata: { tag: "b" } },
      { id: 3, embedding: "[0,0,1]", metadata: { tag: "c" } },
    ]);
  });

  it("loads several batches, and text ids make a text key", async () => {
    const t = uniqueName("vec_batches");
    const random = rng(7);
    for (let batch = 0; batch < 3; batch++) {
      const rows = Array.from({ length: 200 }, (_, i) => ({ id: `doc-${batch * 200 + i}`, vector: Array.from({ length: 16 }, () => random()) }));
      const r = await ok<{ inserted: number }>(client, "pg_vector_upsert", { table: t, create: true, rows });
      expect(r.inserted).toBe(200);
    }
    const n = await db.query(`select count(*)::int as n, pg_typeof(min(id))::text as id_type from "${t}"`);
    expect(n.rows[0]).toEqual({ n: 600, id_type: "text" });
  });

  it("refuses vectors of different dimensions in one call before writing anything", async () => {
    const t = uniqueName("vec_dims");
    const r = await call(client, "pg_vector_upsert", { table: t, create: true, rows: [{ id: 1, vector: [1, 2, 3] }, { id: 2, vector: [1, 2] }] });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("rows[1].vector has 2 dimensions; expected 3");
    expect((await db.query("select to_regclass($1) as r", [t])).rows[0].r).toBeNull();
  });

  it("refuses a vector whose dimension differs from the column's", async () => {
    const t = uniqueName("vec_dims2");
    await ok(client, "pg_vector_upsert", { table: t, create: true, rows: [{ id: 1, vector: [1, 2, 3] }] });
    const r = await call(client, "pg_vector_upsert", { table: t, rows: [{ id: 2, vector: [1, 2, 3, 4] }] });
    expect(text(r)).toMatch(/^ERROR dimension_mismatch: rows\[0\]\.vector has 4 dimensions; the column has 3/);
  });

  it("refuses NaN and Infinity: in text as a tool error, in JSON (sent as null) as invalid arguments", async () => {
    const t = uniqueName("vec_nan");
    for (const bad of ["[1,NaN,3]", "[1,2,Infinity]", "[1,,3]"]) {
      const r = await call(client, "pg_vector_upsert", { table: t, create: true, rows: [{ id: 1, vector: bad }] });
      expect(r.isError, bad).toBe(true);
      expect(text(r), bad).toMatch(/^ERROR invalid_vector: rows\[0\]\.vector: element \d is not a finite number/);
    }
    expect(text(await call(client, "pg_vector_upsert", { table: t, create: true, rows: [{ id: 1, vector: [1, Number.NaN, 3] }] }))).toMatch(/^ERROR invalid_arguments: [\s\S]*rows\[0\]\.vector/);
    expect((await db.query("select to_regclass($1) as r", [t])).rows[0].r).toBeNull();
  });

  it("refuses a missing table without create, and duplicate ids in one call", async () => {
    const t = uniqueName("vec_missing");
    const missing = await call(client, "pg_vector_upsert", { table: t, rows: [{ id: 1, vector: [1] }] });
    expect(text(missing)).toMatch(/^ERROR undefined_table: table .* does not exist\nHINT: pass create: true/);
    const dup = await call(client, "pg_vector_upsert", { table: t, create: true, rows: [{ id: 1, vector: [1] }, { id: 1, vector: [2] }] });
    expect(text(dup)).toMatch(/^ERROR duplicate_id: rows\[1\]\.id 1 appears twice/);
  });

  it("writes halfvec and bit columns in their own text forms", async () => {
    const h = uniqueName("vec_half");
    const b = uniqueName("vec_bit");
    await db.query(`create table "${h}" (id int primary key, embedding halfvec(3)); create table "${b}" (id int primary key, bits bit(4))`);
    await ok(client, "pg_vector_upsert", { table: h, rows: [{ id: 1, vector: [0.5, 1, 2] }] });
    await ok(client, "pg_vector_upsert", { table: b, rows: [{ id: 1, vector: [0, 1, 0, 1] }, { id: 2, vector: "0011" }] });
    expect((await db.query(`select embedding::text as v from "${h}"`)).rows[0].v).toBe("[0.5,1,2]");
    expect((await db.query(`select array_agg(bits::text order by id) as v from "${b}"`)).rows[0].v).toEqual(["0101", "0011"]);
    const over = await call(client, "pg_vector_upsert", { table: h, rows: [{ id: 2, vector: [70000, 0, 0] }] });
    expect(text(over)).toMatch(/out of range for halfvec/);
    const notBits = await call(client, "pg_vector_upsert", { table: b, rows: [{ id: 3, vector: [0, 2, 0, 1] }] });
    expect(text(notBits)).toMatch(/a bit vector holds 0 and 1/);
  });
});

describe("pg_vector_create_index", () => {
  let t: string;
  beforeAll(async () => {
    t = uniqueName("vec_idx");
    const random = rng(11);
    const rows = Array.from({ length: 300 }, (_, i) => ({ id: i + 1, vector: Array.from({ length: 4 }, () => random() - 0.5) }));
    await ok(client, "pg_vector_upsert", { table: t, create: true, rows });
  });

  const cases: [string, string, Record<string, unknown>, RegExp][] = [
    ["hnsw", "l2", { m: 8, efConstruction: 32 }, /USING hnsw \(embedding vector_l2_ops\) WITH \(m='?8'?, ef_construction='?32'?\)/],
    ["hnsw", "ip", {}, /USING hnsw \(embedding vector_ip_ops\)/],
    ["hnsw", "cosine", {}, /USING hnsw \(embedding vector_cosine_ops\)/],
    ["hnsw", "l1", {}, /USING hnsw \(embedding vector_l1_ops\)/],
    ["ivfflat", "l2", { lists: 10 }, /USING ivfflat \(embedding( vector_l2_ops)?\) WITH \(lists='?10'?\)/],
    ["ivfflat", "ip", { lists: 5 }, /USING ivfflat \(embedding vector_ip_ops\)/],
    ["ivfflat", "cosine", { lists: 5 }, /USING ivfflat \(embedding vector_cosine_ops\)/],
  ];
  for (const [method, metric, options, def] of cases) {
    it(`creates a ${method} index for ${metric}`, async () => {
      const r = await ok<{ index: string; sql: string }>(client, "pg_vector_create_index", { table: t, method, metric, ...options });
      expect(r.index).toBe(`${t}_embedding_${method}_${metric}`);
      const found = (await indexdefs(t)).find((i) => i.indexname === r.index);
      expect(found?.indexdef).toMatch(def);
    });
  }

  it("creates an index CONCURRENTLY, with a chosen name", async () => {
    const r = await ok<{ index: string; sql: string }>(client, "pg_vector_create_index", { table: t, method: "hnsw", metric: "l2", name: `${t}_conc`, concurrently: true });
    expect(r.sql).toMatch(/^CREATE INDEX CONCURRENTLY/);
    const v = await db.query("select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = $1", [`${t}_conc`]);
    expect(v.rows).toEqual([{ indisvalid: true }]);
  });

  it("indexes halfvec and bit columns with their operator classes", async () => {
    const h = uniqueName("idx_half");
    const b = uniqueName("idx_bit");
    await db.query(`create table "${h}" (id int primary key, embedding halfvec(3)); create table "${b}" (id int primary key, bits bit(8))`);
    await ok(client, "pg_vector_create_index", { table: h, method: "hnsw", metric: "l2" });
    await ok(client, "pg_vector_create_index", { table: h, method: "ivfflat", metric: "cosine", lists: 2 });
    await ok(client, "pg_vector_create_index", { table: b, method: "hnsw", metric: "hamming" });
    await ok(client, "pg_vector_create_index", { table: b, method: "hnsw", metric: "jaccard" });
    await ok(client, "pg_vector_create_index", { table: b, method: "ivfflat", metric: "hamming", lists: 2 });
    expect((await indexdefs(h)).map((i) => i.indexdef.replace(/^.*USING /, ""))).toEqual(expect.arrayContaining(["hnsw (embedding halfvec_l2_ops)", "ivfflat (embedding halfvec_cosine_ops) WITH (lists='2')"]));
    expect((await indexdefs(b)).map((i) => i.indexdef.replace(/^.*USING /, ""))).toEqual(expect.arrayContaining(["hnsw (bits bit_hamming_ops)", "hnsw (bits bit_jaccard_ops)", "ivfflat (bits bit_hamming_ops) WITH (lists='2')"]));
  });

  it("refuses combinations pgvector does not have, with a clear reason", async () => {
    expect(text(await call(client, "pg_vector_create_index", { table: t, method: "ivfflat", metric: "l1" }))).toMatch(/^ERROR feature_not_supported: IVFFlat has no operator class for vector with l1/);
    expect(text(await call(client, "pg_vector_create_index", { table: t, method: "hnsw", metric: "hamming" }))).toMatch(/^ERROR invalid_metric: metric hamming does not apply to vector columns/);
    expect(text(await call(client, "pg_vector_create_index", { table: t, method: "hnsw", lists: 4 }))).toMatch(/^ERROR invalid_option: lists is an IVFFlat option/);
    expect(text(await call(client, "pg_vector_create_index", { table: t, method: "hnsw", m: 1000 }))).toMatch(/^ERROR invalid_arguments: [\s\S]*must be from 2 to 100\s+→ at m/);
    expect(text(await call(client, "pg_vector_create_index", { table: `${t}_nope`, method: "hnsw" }))).toMatch(/^ERROR undefined_table/);
  });
});

describe("pg_vector_search", () => {
  const N = 2000;
  const DIM = 8;
  const random = rng(42);
  const vectors = Array.from({ length: N }, () => Array.from({ length: DIM }, () => Math.round((random() * 2 - 1) * 100) / 100));
  const categories = ["a", "b", "c", "d"];
  let plainTable: string;
  let hnswTable: string;
  let ivfTable: string;

  beforeAll(async () => {
    plainTable = uniqueName("vs_plain");
    hnswTable = uniqueName("vs_hnsw");
    ivfTable = uniqueName("vs_ivf");
    for (const table of [plainTable, hnswTable, ivfTable]) {
      await db.query(`create table "${table}" (id int primary key, embedding vector(${DIM}) not null, category text, metadata jsonb)`);
      await db.query(`insert into "${table}" select i, v::vector, c, m::jsonb from unnest($1::int[], $2::text[], $3::text[], $4::text[]) as u(i, v, c, m)`, [
        vectors.map((_, i) => i + 1),
        vectors.map((v) => `[${v.join(",")}]`),
        vectors.map((_, i) => categories[i % 4]),
        vectors.map((_, i) => JSON.stringify({ n: i % 10, kind: i % 2 ? "odd" : "even" })),
      ]);
      await db.query(`analyze "${table}"`);
    }
    await ok(client, "pg_vector_create_index", { table: hnswTable, method: "hnsw", metric: "l2" });
    await ok(client, "pg_vector_create_index", { table: ivfTable, method: "ivfflat", metric: "l2", lists: 20 });
  });

  const query = Array.from({ length: DIM }, (_, i) => (i % 2 ? 0.25 : -0.25));

  it("answers from the table as it is now when it changed between searches (the catalog answer kept per isolate is never trusted over PostgreSQL)", async () => {
    const t = uniqueName("vs_change");
    await db.query(`create table "${t}" (id int primary key, embedding vector(3))`);
    await db.query(`insert into "${t}" values (1, '[1,0,0]'), (2, '[0,1,0]')`);
    try {
      const first = await ok<RowSet>(client, "pg_vector_search", { table: t, vector: [1, 0, 0], k: 5 });
      expect(first.rows.map((r) => r[0])).toEqual([1, 2]);
      // Another dimension under the same column name: the kept answer says 3.
      await db.query(`alter table "${t}" drop column embedding, add column embedding vector(4)`);
      await db.query(`update "${t}" set embedding = case id when 1 then '[0,0,0,1]'::vector else '[0,0,1,0]'::vector end`);
      const second = await ok<RowSet>(client, "pg_vector_search", { table: t, vector: [0, 0, 1, 0], k: 5 });
      expect(second.rows.map((r) => r[0])).toEqual([2, 1]);
      const wrong = await call(client, "pg_vector_search", { table: t, vector: [1, 0, 0], k: 5 });
      expect(wrong.isError).toBe(true);
      expect(text(wrong)).toMatch(/dimension_mismatch: vector has 3 dimensions; the column has 4/);
      // Gone, then back with another key and column.
      await db.query(`drop table "${t}"`);
      const gone = await call(client, "pg_vector_search", { table: t, vector: [0, 0, 1, 0], k: 5 });
      expect(text(gone)).toMatch(/undefined_table: table .* does not exist/);
      await db.query(`create table "${t}" (key text primary key, v vector(2))`);
      await db.query(`insert into "${t}" values ('x', '[1,1]')`);
      const back = await ok<RowSet>(client, "pg_vector_search", { table: t, vector: [1, 1], k: 5 });
      expect(back.columns.map((c) => c.name)).toEqual(["key", "distance"]);
      expect(back.rows).toEqual([["x", 0]]);
    } finally {
      await db.query(`drop table if exists "${t}"`);
    }
  });

  for (const metric of ["l2", "ip", "cosine", "l1"] as const) {
    it(`returns the exact k nearest by ${metric} on a table without an index`, async () => {
      const r = await ok<RowSet>(client, "pg_vector_search", { table: plainTable, vector: query, metric, k: 10 });
      expect(r.columns.map((c) => c.name)).toEqual(["id", "distance"]);
      const got = r.rows.map((row) => row[1] as number);
      const want = exact(vectors, query, metric, 10);
      got.forEach((d, i) => expect(d).toBeCloseTo(want[i]!, 4));
      // The ids are those rows: each one's distance recomputed here matches.
      for (const [id, d] of r.rows as [number, number][]) expect(DISTANCE[metric](vectors[id - 1]!, query)).toBeCloseTo(d, 4);
    });
  }

  it("uses the HNSW index, so efSearch bounds the rows it can return", async () => {
    const plan = await db.query(`explain select id from "${hnswTable}" order by embedding <-> '[${query.join(",")}]' limit 10`);
    expect(plan.rows.map((r) => r["QUERY PLAN"]).join("\n")).toContain("Index Scan");
    const narrow = await ok<RowSet>(client, "pg_vector_search", { table: hnswTable, vector: query, k: 10, efSearch: 1 });
    expect(narrow.rows.length).toBe(1);
    const wide = await ok<RowSet>(client, "pg_vector_search", { table: hnswTable, vector: query, k: 10, efSearch: 200 });
    expect(wide.rows.length).toBe(10);
    const want = new Set(exact(vectors, query, "l2", 10).map((d) => d.toFixed(4)));
    const hits = wide.rows.filter((row) => want.has((row[1] as number).toFixed(4))).length;
    expect(hits).toBeGreaterThanOrEqual(9);
  });

  it("raises ef_search to k when k is larger than the default 40", async () => {
    const r = await ok<RowSet>(client, "pg_vector_search", { table: hnswTable, vector: query, k: 100 });
    expect(r.rows.length).toBe(100);
  });

  it("iterative scans keep k results when a filter is selective", async () => {
    const filter = [{ column: "category", op: "=", value: "b" }];
    const plainScan = await ok<RowSet>(client, "pg_vector_search", { table: hnswTable, vector: query, k: 10, efSearch: 10, filter });
    expect(plainScan.rows.length).toBeLessThan(10);
    const iterative = await ok<RowSet>(client, "pg_vector_search", { table: hnswTable, vector: query, k: 10, efSearch: 10, filter, iterative: true });
    expect(iterative.rows.length).toBe(10);
    const ds = iterative.rows.map((r) => r[1] as number);
    expect(ds).toEqual([...ds].sort((a, b) => a - b));
  });

  it("probes: searching every IVFFlat list is exact", async () => {
    const plan = await db.query(`explain select id from "${ivfTable}" order by embedding <-> '[${query.join(",")}]' limit 10`);
    expect(plan.rows.map((r) => r["QUERY PLAN"]).join("\n")).toContain("Index Scan");
    const r = await ok<RowSet>(client, "pg_vector_search", { table: ivfTable, vector: query, k: 10, probes: 20 });
    const want = exact(vectors, query, "l2", 10);
    r.rows.forEach((row, i) => expect(row[1] as number).toBeCloseTo(want[i]!, 4));
  });

  it("filters on columns and jsonb keys with values as parameters, and returns chosen columns", async () => {
    const r = await ok<RowSet>(client, "pg_vector_search", {
      table: plainTable,
      vector: query,
      k: 5,
      select: ["category", "metadata"],
      filter: [
        { column: "category", op: "in", value: ["a", "c"] },
        { column: "metadata", key: "n", op: ">=", value: 4 },
        { column: "metadata", key: "kind", op: "=", value: "even" },
        { column: "id", op: "!=", value: 1 },
      ],
    });
    expect(r.columns.map((c) => c.name)).toEqual(["id", "distance", "category", "metadata"]);
    expect(r.rows.length).toBe(5);
    const eligible = vectors.map((v, i) => ({ v, id: i + 1, cat: categories[i % 4]!, n: i % 10, kind: i % 2 ? "odd" : "even" })).filter((x) => ["a", "c"].includes(x.cat) && x.n >= 4 && x.kind === "even" && x.id !== 1);
    const want = exact(eligible.map((x) => x.v), query, "l2", 5);
    r.rows.forEach((row, i) => {
      expect(row[1] as number).toBeCloseTo(want[i]!, 4);
      expect(["a", "c"]).toContain(row[2]);
      expect((row[3] as { n: number }).n).toBeGreaterThanOrEqual(4);
    });
    const evil = await ok<RowSet>(client, "pg_vector_search", { table: plainTable, vector: query, filter: [{ column: "category", op: "=", value: "a' or '1'='1" }] });
    expect(evil.rows).toEqual([]);
  });

  it("accepts a vector in the text form a query returns", async () => {
    const stored = (await db.query(`select embedding::text as v from "${plainTable}" where id = 17`)).rows[0].v as string;
    const r = await ok<RowSet>(client, "pg_vector_search", { table: plainTable, vector: stored, k: 1 });
    expect(r.rows).toEqual([[17, 0]]);
  });

  it("takes exact names: mixed case and quoted forms reach the same column", async () => {
    const t = uniqueName("Vs_Case");
    await db.query(`create table "${t}" ("Key" int primary key, "My Vec" vector(2), "Label" text); insert into "${t}" values (1, '[0,0]', 'a'), (2, '[5,5]', 'b')`);
    const r = await ok<RowSet>(client, "pg_vector_search", { table: `"${t}"`, column: '"My Vec"', vector: [4, 4], k: 1, select: ["Label"], filter: [{ column: '"Key"', op: ">", value: 0 }] });
    expect(r.columns.map((c) => c.name)).toEqual(["Key", "distance", "Label"]);
    expect(r.rows[0]!.slice(0, 1).concat(r.rows[0]!.slice(2))).toEqual([2, "b"]);
  });

  it("answers mistakes with clear errors", async () => {
    expect(text(await call(client, "pg_vector_search", { table: plainTable, vector: [1, 2] }))).toMatch(/^ERROR dimension_mismatch: vector has 2 dimensions; the column has 8/);
    expect(text(await call(client, "pg_vector_search", { table: plainTable, vector: query, column: "category" }))).toMatch(/^ERROR not_a_vector: column category is text/);
    expect(text(await call(client, "pg_vector_search", { table: plainTable, vector: query, metric: "jaccard" }))).toMatch(/^ERROR invalid_metric/);
    expect(text(await call(client, "pg_vector_search", { table: plainTable, vector: query, filter: [{ column: "nope", op: "=", value: 1 }] }))).toMatch(/^ERROR 42703: column "nope" does not exist/);
    expect(text(await call(client, "pg_vector_search", { table: plainTable, vector: query, filter: [{ column: "id", op: "in", value: 3 }] }))).toMatch(/^ERROR invalid_filter: filter\[0\]: in needs a non-empty array/);
    expect(text(await call(client, "pg_vector_search", { table: plainTable, vector: query, efSearch: 5000 }))).toMatch(/^ERROR invalid_arguments: [\s\S]*must be from 1 to 1000\s+→ at efSearch/);
  });
});

describe("pg_vector_distance", () => {
  it("computes each metric between two vectors", async () => {
    const d = async (metric: string, a: unknown, b: unknown) => (await ok<RowSet>(client, "pg_vector_distance", { a, b, metric })).rows[0]![0] as number;
    expect(await d("l2", [0, 0], [3, 4])).toBe(5);
    expect(await d("ip", [1, 2], [3, 4])).toBe(-11);
    expect(await d("cosine", [1, 0], [0, 1])).toBe(1);
    expect(await d("l1", [1, 1], "[4,5]")).toBe(7);
    expect(await d("hamming", "0101", "0011")).toBe(2);
    expect(await d("jaccard", [1, 1, 0, 0], [1, 0, 0, 0])).toBe(0.5);
  });

  it("computes the distance to stored rows by id", async () => {
    const t = uniqueName("vec_dist");
    await ok(client, "pg_vector_upsert", { table: t, create: true, rows: [{ id: 1, vector: [0, 0] }, { id: 2, vector: [6, 8] }, { id: 3, vector: [1, 0] }] });
    const r = await ok<RowSet>(client, "pg_vector_distance", { a: [0, 0], table: t, ids: [2, 3], metric: "l2" });
    // bigint ids stay exact: strings.
    expect(r.rows).toEqual([
      ["3", 1],
      ["2", 10],
    ]);
  });

  it("refuses vectors of different dimensions and ambiguous arguments", async () => {
    expect(text(await call(client, "pg_vector_distance", { a: [1, 2], b: [1, 2, 3] }))).toMatch(/^ERROR dimension_mismatch: a has 2 dimensions, b has 3/);
    expect(text(await call(client, "pg_vector_distance", { a: [1, 2] }))).toMatch(/^ERROR invalid_arguments/);
  });
});

describe("without pgvector", () => {
  const calls: [string, Record<string, unknown>][] = [
    ["pg_vector_search", { table: "products", vector: [1, 2, 3] }],
    ["pg_vector_upsert", { table: "vec_none", create: true, rows: [{ id: 1, vector: [1, 2, 3] }] }],
    ["pg_vector_create_index", { table: "products", method: "hnsw" }],
    ["pg_vector_distance", { a: [1, 2], b: [3, 4] }],
  ];
  for (const [name, args] of calls) {
    it(`${name} says the extension is not available on a server without it`, async () => {
      const r = await call(plain, name, args);
      expect(r.isError).toBe(true);
      expect(text(r)).toBe(
        "ERROR extension_missing: the pgvector extension (vector) is not available on this server: it is not in pg_available_extensions\nHINT: install pgvector on the PostgreSQL server (or use a provider that ships it), then run CREATE EXTENSION vector",
      );
    });
  }

  it("says CREATE EXTENSION vector where the extension is available but not created", async () => {
    // Last in this file: drops the extension (and every vector column with it), then restores it.
    await db.query("drop extension vector cascade");
    try {
      const r = await call(client, "pg_vector_distance", { a: [1, 2], b: [3, 4] });
      expect(text(r)).toMatch(/^ERROR extension_missing: the pgvector extension \(vector\) is not installed in this database\nHINT: enable it with CREATE EXTENSION vector/);
    } finally {
      await db.query("create extension vector");
    }
  });
});
