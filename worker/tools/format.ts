/**
 * The shapes every row-returning tool shares: one output schema and one text
 * rendering (a header of name:type, then tab-separated rows, \N for NULL), so
 * a model reads about as many bytes as the data itself.
 */
import { z } from "zod";
import type { RowSet } from "../db/session";
import { tsvRow } from "../db/values";

export const RowSetSchema = z.object({
  command: z.string(),
  columns: z.array(z.object({ name: z.string(), type: z.string() })),
  rows: z.array(z.array(z.unknown())),
  rowCount: z.number().nullable(),
  truncated: z.boolean(),
  nextOffset: z.number().optional(),
});

export function renderRowSet(rs: RowSet): string {
  const parts: string[] = [];
  if (rs.columns.length > 0) {
    parts.push(rs.columns.map((c) => `${c.name}:${c.type}`).join("\t"));
    for (const row of rs.rows) parts.push(tsvRow(row));
  }
  if (rs.truncated) parts.push(`[${rs.rows.length} rows shown, more exist; next page: offset=${rs.nextOffset}]`);
  else if (rs.columns.length === 0 || rs.command !== "SELECT") parts.push(`[${rs.command}${rs.rowCount !== null ? ` ${rs.rowCount}` : ""}]`);
  return parts.join("\n");
}
