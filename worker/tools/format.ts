/**
 * The shapes every row-returning tool shares: one output schema and one text
 * rendering (a header of name:type, then tab-separated rows, \N for NULL), so
 * a model reads about as many bytes as the data itself.
 */
import { z } from "zod";
import type { RowSet } from "../db/session";
import { tsvRow } from "../db/values";
import type { RowsPlacement } from "../config";
import { replayNote } from "./idempotency";

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

/** A tool's output is a row set (RowSetSchema, or an extension of it such as pg_query_write's `replayed`). */
export function isRowSetOutput(schema: z.ZodType): boolean {
  return schema instanceof z.ZodObject && schema.shape.rows === RowSetSchema.shape.rows && schema.shape.columns === RowSetSchema.shape.columns;
}

/** One row-set answer with its rows placed (config.ts RowsPlacement); `text` is the tool's rendering (TSV, possibly in data boundaries). */
export function placeRows(rs: RowSet, text: string, placement: RowsPlacement): { structured: Omit<RowSet, "rows"> & { rows?: unknown[][] }; text: string } {
  switch (placement) {
    case "both":
      return { structured: rs, text };
    case "text": {
      const { rows: _, ...rest } = rs;
      return { structured: rest, text };
    }
    case "structured": {
      // A statement without a result (INSERT 3) has no rows to move: its text is its command tag.
      if (rs.columns.length === 0) return { structured: rs, text };
      // No database text here (column names included): it needs no data boundaries.
      const more = rs.truncated ? `, more exist; next page: offset=${rs.nextOffset}` : "";
      const replay = rs.replayed ? `${replayNote(rs.replayed)}\n` : "";
      return { structured: rs, text: `${replay}[${rs.command} ${rs.rows.length} rows of ${rs.columns.length} columns${more}: the rows are in structuredContent.rows]` };
    }
  }
}
