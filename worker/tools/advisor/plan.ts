/**
 * Reading EXPLAIN (FORMAT JSON, VERBOSE) plans: the scans, joins and sorts a
 * statement does, and the columns its conditions compare. PostgreSQL has
 * already parsed and resolved the statement, so the column names here are the
 * planner's (qualified by the scan's alias), not guesses from the SQL text.
 */
import { tokenize, type Token } from "../../sql/lexer";

/** The fields of an EXPLAIN (FORMAT JSON) node this module reads. */
export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Schema?: string;
  Alias?: string;
  "Index Name"?: string;
  "Parent Relationship"?: string;
  "Join Type"?: string;
  "Startup Cost"?: number;
  "Total Cost"?: number;
  "Plan Rows"?: number;
  "Plan Width"?: number;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Actual Total Time"?: number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  Filter?: string;
  "Index Cond"?: string;
  "Recheck Cond"?: string;
  "Hash Cond"?: string;
  "Merge Cond"?: string;
  "Join Filter"?: string;
  "Sort Key"?: string[];
  "Sort Method"?: string;
  "Sort Space Used"?: number;
  "Sort Space Type"?: string;
  "Hash Batches"?: number;
  "Original Hash Batches"?: number;
  "Peak Memory Usage"?: number;
  "Disk Usage"?: number;
  Plans?: PlanNode[];
}

export interface ExplainOutput {
  Plan: PlanNode;
  "Planning Time"?: number;
  "Execution Time"?: number;
}

/** One comparison of a column with something else, as the plan shows it. */
export interface Comparison {
  alias: string;
  column: string;
  kind: "eq" | "range";
  /** Set when the other side is a column of another alias (a join). */
  other?: { alias: string; column: string };
}

/** Depth-first, parents before children. */
export function walk(node: PlanNode, visit: (n: PlanNode, parent: PlanNode | undefined) => void, parent?: PlanNode): void {
  visit(node, parent);
  for (const child of node.Plans ?? []) walk(child, visit, node);
}

const SCANS = new Set(["Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan"]);

export const isScan = (n: PlanNode) => SCANS.has(n["Node Type"]) && !!n["Relation Name"];

/** The relations a plan reads, keyed by alias (VERBOSE gives every scan its schema). */
export function relationsByAlias(plan: PlanNode): Map<string, { schema: string; name: string }> {
  const out = new Map<string, { schema: string; name: string }>();
  walk(plan, (n) => {
    if (n["Relation Name"] && n.Alias) out.set(n.Alias, { schema: n.Schema ?? "public", name: n["Relation Name"] });
  });
  return out;
}

const RANGE_OPS = new Set(["<", ">", "<=", ">="]);
const EQ_OPS = new Set(["="]);

/** Splits `(a AND b AND c)` into its top-level conjuncts, without their outer parentheses. */
function conjuncts(tokens: Token[]): Token[][] {
  let t = tokens;
  while (t.length >= 2 && t[0]!.kind === "lparen" && closing(t, 0) === t.length - 1) t = t.slice(1, -1);
  const parts: Token[][] = [];
  let depth = 0;
  let current: Token[] = [];
  for (const tok of t) {
    if (tok.kind === "lparen") depth++;
    if (tok.kind === "rparen") depth--;
    if (depth === 0 && tok.kind === "word" && tok.value === "and") {
      parts.push(current);
      current = [];
      continue;
    }
    current.push(tok);
  }
  parts.push(current);
  return parts.map((p) => {
    let q = p;
    while (q.length >= 2 && q[0]!.kind === "lparen" && closing(q, 0) === q.length - 1) q = q.slice(1, -1);
    return q;
  });
}

function closing(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i]!.kind === "lparen") depth++;
    if (tokens[i]!.kind === "rparen" && --depth === 0) return i;
  }
  return -1;
}

const nameOf = (t: Token | undefined) => (t && (t.kind === "word" || t.kind === "ident") ? t.value : undefined);

/** `alias.column`, optionally inside parentheses and followed by casts, starting at i. */
function columnAt(tokens: Token[], i: number): { alias: string; column: string; end: number } | undefined {
  let j = i;
  let opened = 0;
  while (tokens[j]?.kind === "lparen") {
    j++;
    opened++;
  }
  const alias = nameOf(tokens[j]);
  if (!alias || tokens[j + 1]?.text !== "." || !nameOf(tokens[j + 2])) return undefined;
  const column = nameOf(tokens[j + 2])!;
  j += 3;
  const skipCasts = () => {
    while (tokens[j]?.text === "::") {
      j += 2;
      while (tokens[j]?.kind === "lparen" || tokens[j]?.text === "[") j = tokens[j]!.kind === "lparen" ? closing(tokens, j) + 1 : j + 2;
    }
  };
  skipCasts();
  for (; opened > 0; opened--) {
    if (tokens[j]?.kind !== "rparen") return undefined;
    j++;
    skipCasts();
  }
  return { alias, column, end: j };
}

/** The operator and right-hand side of a conjunct after its column. */
function comparisonOf(part: Token[]): Comparison[] {
  // Only conjuncts without OR: a btree index on one column does not serve an OR of columns.
  if (part.some((t) => t.kind === "word" && t.value === "or")) return [];
  const left = columnAt(part, 0);
  if (!left) {
    // `constant op column` is written the other way round by PostgreSQL rarely; try the right side.
    const opIndex = part.findIndex((t) => t.kind === "op" && (EQ_OPS.has(t.text) || RANGE_OPS.has(t.text)));
    if (opIndex <= 0) return [];
    const right = columnAt(part, opIndex + 1);
    if (!right || right.end !== part.length) return [];
    return [{ alias: right.alias, column: right.column, kind: EQ_OPS.has(part[opIndex]!.text) ? "eq" : "range" }];
  }
  const op = part[left.end];
  if (!op) return [];
  if (op.kind === "word" && op.value === "is" && nameOf(part[left.end + 1]) === "null") return [{ alias: left.alias, column: left.column, kind: "eq" }];
  if (op.kind !== "op" || !(EQ_OPS.has(op.text) || RANGE_OPS.has(op.text))) return [];
  const kind = EQ_OPS.has(op.text) ? "eq" : "range";
  const right = columnAt(part, left.end + 1);
  if (right && right.end === part.length) {
    if (right.alias === left.alias) return [];
    return [
      { alias: left.alias, column: left.column, kind, other: { alias: right.alias, column: right.column } },
      { alias: right.alias, column: right.column, kind, other: { alias: left.alias, column: left.column } },
    ];
  }
  // A comparison with a constant, a parameter, ANY(array) or an expression of other aliases (a parameterized scan).
  const rest = part.slice(left.end + 1);
  const refs = rest.filter((t, k) => nameOf(t) && rest[k + 1]?.text === "." && nameOf(rest[k + 2])).map((t) => t.value);
  if (refs.includes(left.alias)) return [];
  return [{ alias: left.alias, column: left.column, kind }];
}

/** The indexable comparisons in a condition as EXPLAIN VERBOSE prints it. */
export function comparisons(condition: string | undefined): Comparison[] {
  if (!condition) return [];
  let tokens: Token[];
  try {
    tokens = tokenize(condition);
  } catch {
    return [];
  }
  return conjuncts(tokens).flatMap(comparisonOf);
}

/** A sort key as `alias.column [DESC]`, when it is a plain column. */
export function sortColumn(key: string): { alias: string; column: string; desc: boolean } | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(key);
  } catch {
    return undefined;
  }
  const c = columnAt(tokens, 0);
  if (!c) return undefined;
  const rest = tokens.slice(c.end).map((t) => t.value);
  if (rest.some((w) => w !== "desc" && w !== "asc" && w !== "nulls" && w !== "first" && w !== "last")) return undefined;
  return { alias: c.alias, column: c.column, desc: rest.includes("desc") };
}

/** Every index a plan uses, by name. */
export function indexesUsed(plan: PlanNode): Set<string> {
  const out = new Set<string>();
  walk(plan, (n) => {
    if (n["Index Name"]) out.add(n["Index Name"]);
  });
  return out;
}
