/**
 * Runs a caller's statement in one round trip. The statements around it
 * (BEGIN READ ONLY, SET LOCAL statement_timeout, ..., ROLLBACK) and the
 * statement itself go out as extended-protocol messages with a single Sync:
 *
 *   Parse/Bind/Execute BEGIN ...  Parse/Bind/Describe/Execute(max+1) <sql>
 *   Parse/Bind/Execute ROLLBACK   Sync
 *
 * The extended protocol takes exactly one statement per Parse, so a second
 * statement cannot ride along. Execute's row limit caps what the server sends;
 * a byte budget caps what we keep. After an error PostgreSQL skips to the Sync,
 * so the closing statement does not run: the caller must roll back.
 *
 * This is a pg "submittable" (like pg-cursor), so it works on pg.Client and on
 * the Neon driver's Client, which share pg's message dispatch.
 */
import Result from "pg/lib/result.js";
import { prepareValue } from "pg/lib/utils.js";
import type { RowSet, RunLimits } from "./session";
import { tsvRow, wireTypes } from "./values";

interface Connection {
  parse(q: { text: string; name?: string; types?: number[] }): void;
  bind(c: { portal?: string; statement?: string; values?: unknown[]; valueMapper?: (v: unknown) => unknown }): void;
  describe(m: { type: "P" | "S"; name?: string }): void;
  execute(c: { portal?: string; rows?: number }): void;
  sync(): void;
  sendCopyFail(msg: string): void;
}

interface Field {
  name: string;
  dataTypeID: number;
}

export interface PipelineSpec {
  before: string[];
  sql: string;
  params: unknown[];
  limits: RunLimits;
  after: string[];
}

export interface PipelineOutcome {
  fields: Field[];
  rows: unknown[][];
  command: string;
  rowCount: number | null;
  truncated: boolean;
  /** Set when the first row alone was over the byte budget: its size in bytes. No row is returned. */
  oversizeRow?: number;
}

/** An error from the pipeline, with the index of the statement that failed. */
export interface PipelineError extends Error {
  /** 0-based: which step failed; `before.length` is the caller's statement. */
  step?: number;
}

export class Pipeline {
  readonly text: string;
  #spec: PipelineSpec;
  #resolve!: (o: PipelineOutcome) => void;
  #reject!: (e: PipelineError) => void;
  readonly promise: Promise<PipelineOutcome>;

  #step = 0; // which statement the next message belongs to
  #skipping: boolean;
  #result = new Result("array", wireTypes);
  #fields: Field[] = [];
  #rows: unknown[][] = [];
  #bytes = 0;
  #received = 0;
  #truncated = false;
  #oversizeRow: number | undefined;
  #command = "";
  #rowCount: number | null = null;
  #settled = false;

  constructor(spec: PipelineSpec) {
    this.#spec = spec;
    this.text = spec.sql;
    this.#skipping = (spec.limits.offset ?? 0) > 0;
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  get #userStep() {
    return this.#spec.before.length;
  }

  submit(connection: Connection): void {
    const plain = (text: string) => {
      connection.parse({ text });
      connection.bind({});
      connection.execute({ rows: 0 });
    };
    for (const text of this.#spec.before) plain(text);
    const { sql, params, limits } = this.#spec;
    connection.parse({ text: sql });
    connection.bind({ values: params, valueMapper: prepareValue as (v: unknown) => unknown });
    connection.describe({ type: "P" });
    // Execute with rows = 0 means "all", so the skip is only sent for a real offset.
    if (limits.offset) connection.execute({ rows: limits.offset });
    connection.execute({ rows: limits.maxRows + 1 });
    for (const text of this.#spec.after) plain(text);
    connection.sync();
  }

  handleRowDescription(msg: { fields: Field[] }): void {
    this.#fields = msg.fields;
    this.#result.addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    if (this.#step !== this.#userStep || this.#skipping) return;
    this.#received++;
    if (this.#truncated) return;
    if (this.#rows.length >= this.#spec.limits.maxRows) {
      this.#truncated = true;
      return;
    }
    const row = this.#result.parseRow(msg.fields) as unknown[];
    const size = tsvRow(row).length + 1;
    if (this.#bytes + size > this.#spec.limits.maxBytes) {
      // A first row over the budget is not returned either: one value must not blow the cap.
      if (this.#rows.length === 0) this.#oversizeRow = size;
      this.#truncated = true;
      return;
    }
    this.#bytes += size;
    this.#rows.push(row);
  }

  /** One Execute of the caller's statement stopped at its row limit. */
  handlePortalSuspended(): void {
    if (this.#skipping) this.#skipping = false;
    else {
      if (this.#received > this.#spec.limits.maxRows) this.#truncated = true;
      this.#step++;
    }
  }

  handleCommandComplete(msg: { text: string }): void {
    if (this.#step === this.#userStep) {
      if (this.#skipping) {
        // Fewer rows than the offset: the take-Execute will complete again with none.
        this.#skipping = false;
        return;
      }
      this.#result.addCommandComplete(msg);
      this.#command = this.#result.command ?? "";
      this.#rowCount = this.#result.rowCount ?? null;
    }
    this.#step++;
  }

  handleEmptyQuery(): void {
    if (this.#step === this.#userStep && this.#skipping) {
      this.#skipping = false;
      return;
    }
    this.#step++;
  }

  /** COPY ... FROM STDIN has no data to read here; refuse it so the server moves on. */
  handleCopyInResponse(connection: Connection): void {
    connection.sendCopyFail("COPY FROM STDIN is not supported by this server");
  }

  handleCopyData(): void {}

  handleError(err: PipelineError): void {
    if (this.#settled) return;
    this.#settled = true;
    err.step = this.#step;
    this.#reject(err);
  }

  handleReadyForQuery(): void {
    if (this.#settled) return;
    this.#settled = true;
    const truncated = this.#truncated;
    this.#resolve({
      fields: this.#fields,
      rows: this.#rows,
      command: this.#command,
      rowCount: truncated ? null : this.#rowCount,
      truncated,
      ...(this.#oversizeRow !== undefined ? { oversizeRow: this.#oversizeRow } : {}),
    });
  }
}

export function toRowSet(o: PipelineOutcome, columns: RowSet["columns"], offset: number): RowSet {
  return {
    command: o.command || (o.fields.length ? "SELECT" : ""),
    columns,
    rows: o.rows,
    rowCount: o.rowCount,
    truncated: o.truncated,
    ...(o.truncated ? { nextOffset: offset + o.rows.length } : {}),
  };
}
