/**
 * Candidate indexes for a workload, from its plans: the columns each scan
 * filters on (equality first, then one range), the join columns a nested loop
 * could look up, and the sort keys an index could deliver in order. Pure: the
 * planner decides later which of them help.
 */
import { quoteIdent } from "../../sql/ident";
import { comparisons, isScan, relationsByAlias, sortColumn, walk, type Comparison, type PlanNode } from "./plan";

/** Columns per candidate at most: wider keys rarely pay for their size. */
export const MAX_KEY_COLUMNS = 3;

export interface KeyColumn {
  name: string;
  desc?: boolean;
}

export interface Candidate {
  /** schema.table(col, col DESC): identity for deduplication. */
  key: string;
  schema: string;
  table: string;
  columns: KeyColumn[];
  /** Ids of the statements whose plans suggested it. */
  statements: number[];
  /** What in the plans suggested it: filter, join, sort. */
  origins: string[];
}

export interface ExistingIndex {
  name: string;
  /** Key columns in order; null where the index has an expression. */
  columns: (string | null)[];
  valid: boolean;
  partial: boolean;
  am: string;
}

/** Quotes an identifier for SQL text. */
export type Quote = (name: string) => string;

export const tableKey = (schema: string, table: string, q: Quote = quoteIdent) => `${q(schema)}.${q(table)}`;
export const columnList = (cols: readonly KeyColumn[], q: Quote = quoteIdent) => cols.map((c) => `${q(c.name)}${c.desc ? " DESC" : ""}`).join(", ");
export const candidateKey = (schema: string, table: string, cols: readonly KeyColumn[]) => `${tableKey(schema, table)} (${columnList(cols)})`;

const uniq = <T>(xs: T[]) => [...new Set(xs)];

/** The candidates one statement's plan suggests. */
export function planCandidates(id: number, plan: PlanNode, out: Map<string, Candidate>, isUserSchema: (schema: string) => boolean): void {
  const aliases = relationsByAlias(plan);
  const filters = new Map<string, Comparison[]>();
  walk(plan, (n) => {
    if (!isScan(n) || !n.Alias) return;
    const own = [...comparisons(n.Filter), ...comparisons(n["Index Cond"]), ...comparisons(n["Recheck Cond"])].filter((c) => c.alias === n.Alias && !c.other);
    filters.set(n.Alias, [...(filters.get(n.Alias) ?? []), ...own]);
  });
  const add = (alias: string, cols: KeyColumn[], origin: string) => {
    const rel = aliases.get(alias);
    if (!rel || !isUserSchema(rel.schema) || cols.length === 0) return;
    const seen = new Set<string>();
    const key = cols.filter((c) => !seen.has(c.name) && seen.add(c.name)).slice(0, MAX_KEY_COLUMNS);
    const k = candidateKey(rel.schema, rel.name, key);
    const c = out.get(k) ?? { key: k, schema: rel.schema, table: rel.name, columns: key, statements: [], origins: [] };
    if (!c.statements.includes(id)) c.statements.push(id);
    if (!c.origins.includes(origin)) c.origins.push(origin);
    out.set(k, c);
  };
  const eqCols = (alias: string) => uniq((filters.get(alias) ?? []).filter((c) => c.kind === "eq").map((c) => c.column));
  const rangeCols = (alias: string) => uniq((filters.get(alias) ?? []).filter((c) => c.kind === "range").map((c) => c.column));

  for (const alias of filters.keys()) {
    const eq = eqCols(alias);
    const range = rangeCols(alias);
    if (eq.length + range.length === 0) continue;
    // The composite (equality columns, then one range column), and each column alone.
    add(alias, [...eq, ...range.slice(0, 1)].map((name) => ({ name })), "filter");
    for (const name of uniq([...eq, ...range])) add(alias, [{ name }], "filter");
  }

  walk(plan, (n) => {
    for (const cond of [n["Hash Cond"], n["Merge Cond"], n["Join Filter"]]) {
      for (const c of comparisons(cond)) {
        if (!c.other || c.kind !== "eq") continue;
        add(c.alias, [{ name: c.column }], "join");
        const eq = eqCols(c.alias).filter((x) => x !== c.column);
        if (eq.length) add(c.alias, [...eq, c.column].map((name) => ({ name })), "join");
      }
    }
    if (n["Node Type"] === "Sort" || n["Node Type"] === "Incremental Sort") {
      const keys = (n["Sort Key"] ?? []).map(sortColumn);
      if (keys.length === 0 || keys.some((k) => !k) || uniq(keys.map((k) => k!.alias)).length !== 1) return;
      const alias = keys[0]!.alias;
      // All descending is an ascending index read backwards.
      const allDesc = keys.every((k) => k!.desc);
      const eq = eqCols(alias).filter((x) => !keys.some((k) => k!.column === x));
      add(alias, [...eq.map((name) => ({ name })), ...keys.map((k) => ({ name: k!.column, ...(k!.desc && !allDesc ? { desc: true } : {}) }))], "sort");
    }
  });
}

/** An existing valid btree index whose leading key columns are the candidate's, or undefined. */
export function coveringIndex(c: Candidate, existing: readonly ExistingIndex[]): ExistingIndex | undefined {
  return existing.find((x) => x.valid && !x.partial && x.am === "btree" && c.columns.length <= x.columns.length && c.columns.every((col, i) => x.columns[i] === col.name));
}
