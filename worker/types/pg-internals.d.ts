// pg's internal modules used by the pipelined runner (as pg-cursor uses them).
declare module "pg/lib/result.js" {
  export default class Result {
    constructor(rowMode?: "array", types?: unknown);
    command: string | null;
    rowCount: number | null;
    addFields(fields: unknown[]): void;
    parseRow(fields: unknown[]): unknown;
    addCommandComplete(msg: { text: string }): void;
  }
}
declare module "pg/lib/utils.js" {
  export function prepareValue(v: unknown): unknown;
}
