/**
 * How PostgreSQL values become JSON: exact (bigint and numeric stay strings),
 * compact, and readable by a model. Parsers work on the text wire format.
 */
import { parse as parseArray } from "postgres-array";

type Parser = (text: string) => unknown;

const asNumber: Parser = (v) => {
  const n = Number(v);
  return Number.isFinite(n) ? n : v; // NaN, Infinity stay strings
};
const asBool: Parser = (v) => v === "t";
const asJson: Parser = (v) => JSON.parse(v);
const asString: Parser = (v) => v;

/** '2024-01-02 03:04:05.5+05' -> '2024-01-02T03:04:05.5+05:00' (ISO 8601). */
export const isoTimestamp: Parser = (v) => {
  if (v.endsWith(" BC") || !/^\d/.test(v)) return v; // infinity, -infinity, BC dates
  const t = v.replace(" ", "T");
  return /[+-]\d\d$/.test(t) ? `${t}:00` : t;
};

/** bytea arrives as '\x48656c6c6f'; it leaves as base64. */
const asBase64: Parser = (v) => {
  if (!v.startsWith("\\x")) return v; // bytea_output = escape: leave as is
  const hex = v.slice(2);
  let bin = "";
  for (let i = 0; i < hex.length; i += 2) bin += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(bin);
};

interface TypeInfo {
  name: string;
  parse: Parser;
}

const scalar: Record<number, TypeInfo> = {
  16: { name: "bool", parse: asBool },
  17: { name: "bytea", parse: asBase64 },
  18: { name: "char", parse: asString },
  19: { name: "name", parse: asString },
  20: { name: "int8", parse: asString },
  21: { name: "int2", parse: asNumber },
  23: { name: "int4", parse: asNumber },
  24: { name: "regproc", parse: asString },
  25: { name: "text", parse: asString },
  26: { name: "oid", parse: asNumber },
  28: { name: "xid", parse: asString },
  114: { name: "json", parse: asJson },
  142: { name: "xml", parse: asString },
  194: { name: "pg_node_tree", parse: asString },
  700: { name: "float4", parse: asNumber },
  701: { name: "float8", parse: asNumber },
  790: { name: "money", parse: asString },
  829: { name: "macaddr", parse: asString },
  869: { name: "inet", parse: asString },
  650: { name: "cidr", parse: asString },
  1042: { name: "bpchar", parse: asString },
  1043: { name: "varchar", parse: asString },
  1082: { name: "date", parse: asString },
  1083: { name: "time", parse: asString },
  1114: { name: "timestamp", parse: (v) => (/^\d/.test(v) && !v.endsWith(" BC") ? v.replace(" ", "T") : v) },
  1184: { name: "timestamptz", parse: isoTimestamp },
  1186: { name: "interval", parse: asString },
  1266: { name: "timetz", parse: asString },
  1560: { name: "bit", parse: asString },
  1562: { name: "varbit", parse: asString },
  1700: { name: "numeric", parse: asString },
  2205: { name: "regclass", parse: asString },
  2206: { name: "regtype", parse: asString },
  2950: { name: "uuid", parse: asString },
  3220: { name: "pg_lsn", parse: asString },
  3614: { name: "tsvector", parse: asString },
  3802: { name: "jsonb", parse: asJson },
  5069: { name: "xid8", parse: asString },
};

/** array oid -> element oid */
const arrays: Record<number, number> = {
  1000: 16, 1001: 17, 1002: 18, 1003: 19, 1005: 21, 1007: 23, 1009: 25, 1014: 1042, 1015: 1043, 1016: 20,
  1021: 700, 1022: 701, 1028: 26, 1041: 869, 1115: 1114, 1182: 1082, 1183: 1083, 1185: 1184, 1187: 1186,
  1231: 1700, 199: 114, 2951: 2950, 3807: 3802, 1040: 829, 651: 650,
};

const known = new Map<number, TypeInfo>();
for (const [oid, info] of Object.entries(scalar)) known.set(Number(oid), info);
for (const [oid, elem] of Object.entries(arrays)) {
  const e = scalar[elem]!;
  known.set(Number(oid), { name: `${e.name}[]`, parse: (v) => parseArray(v, e.parse) });
}

/** Names of non-built-in types (enums, domains, vector, ...) learned from pg_type, per isolate. */
const learnedNames = new Map<number, string>();

export function typeName(oid: number): string | undefined {
  return known.get(oid)?.name ?? learnedNames.get(oid);
}

export function learnTypeName(oid: number, name: string): void {
  learnedNames.set(oid, name);
}

/** pg's `types` hook: our parsers for text-format values, the raw text for anything unknown. */
export const wireTypes = {
  getTypeParser(oid: number, format?: string): Parser {
    if (format === "binary") return asString;
    return known.get(oid)?.parse ?? asString;
  },
};

/** Escapes a value for one TSV cell (the COPY text conventions: \N is NULL). */
export function tsvCell(v: unknown): string {
  if (v === null || v === undefined) return "\\N";
  const s = typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[\t\n\r\\]/.test(s) ? s.replace(/[\t\n\r\\]/g, (c) => (c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\\\")) : s;
}

/** One TSV line for a row, without the newline. */
export function tsvRow(row: readonly unknown[]): string {
  let line = "";
  for (let i = 0; i < row.length; i++) line += (i ? "\t" : "") + tsvCell(row[i]);
  return line;
}
