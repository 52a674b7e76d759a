/// <reference path="../../worker/types/pg-internals.d.ts" />
/**
 * Pins the parts of `pg` that are not its public API but that the pipelined
 * runner (worker/db/pipeline.ts) and the session (worker/db/session.ts) rely
 * on. A `pg` upgrade that changes one of them fails here, naming the internal
 * and the code that depends on it, instead of failing as a hung or garbled
 * tool call in production.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, sep } from "node:path";
import { describe, expect, it } from "vitest";
import pg from "pg";
import { Client as NeonClient } from "@neondatabase/serverless";
import Result from "pg/lib/result.js";
import { prepareValue } from "pg/lib/utils.js";
import { wireTypes } from "../../worker/db/values";

const require = createRequire(import.meta.url);

/** The `pg` release these pins were read against, line by line, in lib/client.js, lib/connection.js and lib/result.js. */
const VERIFIED_PG = "8.23";
const VERIFIED_PG_PROTOCOL = "1.16";
/** The Neon driver bundles its own copy of pg's Client and Connection; the release whose copy was checked below. */
const VERIFIED_NEON = "1.2";

const pgVersion: string = require("pg/package.json").version;
/** pg-protocol as pg itself resolves it (its exports hide package.json, so read the file beside its entry point). */
const protocolEntry = createRequire(require.resolve("pg")).resolve("pg-protocol");
const protocolVersion: string = JSON.parse(readFileSync(join(protocolEntry.slice(0, protocolEntry.lastIndexOf(`${sep}pg-protocol${sep}`) + 13), "package.json"), "utf8")).version;
const clientSource = readFileSync(require.resolve("pg/lib/client.js"), "utf8");

const minor = (v: string) => v.split(".").slice(0, 2).join(".");
const PIPELINE = "worker/db/pipeline.ts (Pipeline)";
const SESSION = "worker/db/session.ts";

describe("pg internals the pipeline relies on", () => {
  it(`the installed pg is the release the pins were verified against (${VERIFIED_PG}.x)`, () => {
    expect(
      minor(pgVersion),
      `pg is now ${pgVersion}; the pins in this file were verified against ${VERIFIED_PG}.x. Re-read pg's lib/client.js (the activeQuery.handle* dispatch and query(submittable)), lib/connection.js (parse/bind/describe/execute/sync/sendCopyFail, .stream) and lib/result.js against ${PIPELINE} and ${SESSION}, then update VERIFIED_PG.`,
    ).toBe(VERIFIED_PG);
    expect(
      minor(protocolVersion),
      `pg-protocol (pg's serializer) is now ${protocolVersion}; verified against ${VERIFIED_PG_PROTOCOL}.x. Re-check the wire bytes test below and the message framing in ${SESSION} (MessageSizeGuard), then update VERIFIED_PG_PROTOCOL.`,
    ).toBe(VERIFIED_PG_PROTOCOL);
  });

  describe("pg/lib/result.js (imported by the pipeline to parse rows)", () => {
    it("default-exports a class taking (rowMode, types) with addFields, parseRow, addCommandComplete, command, rowCount", () => {
      expect(typeof Result, `pg/lib/result.js no longer default-exports the Result class that ${PIPELINE} constructs`).toBe("function");
      const r = new Result("array", wireTypes) as unknown as Record<string, unknown>;
      for (const m of ["addFields", "parseRow", "addCommandComplete"]) {
        expect(typeof r[m], `Result.${m} is gone; ${PIPELINE} calls it`).toBe("function");
      }
      expect("command" in r && "rowCount" in r, `Result no longer has command/rowCount fields; ${PIPELINE} handleCommandComplete reads them`).toBe(true);
    });

    it("in array mode parses a row through the given types' getTypeParser(oid, format)", () => {
      const r = new Result("array", wireTypes);
      r.addFields([
        { name: "n", dataTypeID: 23 },
        { name: "s", dataTypeID: 25 },
      ]);
      const row = r.parseRow(["42", null]);
      expect(Array.isArray(row), `Result("array") no longer returns rows as arrays; ${PIPELINE} handleDataRow relies on it`).toBe(true);
      expect(row, `Result no longer applies the parsers from its types argument (wireTypes from worker/db/values.ts); ${PIPELINE} relies on it`).toEqual([42, null]);
    });

    it("addCommandComplete({ text }) sets command and rowCount", () => {
      const r = new Result("array", wireTypes);
      r.addCommandComplete({ text: "INSERT 0 3" });
      expect([r.command, r.rowCount], `Result.addCommandComplete no longer parses the CommandComplete tag; ${PIPELINE} reports command/rowCount from it`).toEqual(["INSERT", 3]);
      const s = new Result("array", wireTypes);
      s.addCommandComplete({ text: "SELECT 7" });
      expect([s.command, s.rowCount]).toEqual(["SELECT", 7]);
    });
  });

  describe("pg/lib/utils.js", () => {
    it("exports prepareValue, the bind valueMapper the pipeline passes", () => {
      expect(typeof prepareValue, `pg/lib/utils.js no longer exports prepareValue; ${PIPELINE} submit() passes it to bind() as valueMapper`).toBe("function");
      expect(prepareValue(new Date(Date.UTC(2020, 0, 2, 3, 4, 5)))).toMatch(/^2020-01-0[12]T/);
      expect(prepareValue(Buffer.from("ab")), "prepareValue no longer passes Buffers through").toBeInstanceOf(Buffer);
      expect(prepareValue([1, null, "x"]), "prepareValue no longer turns arrays into array literals").toBe('{"1",NULL,"x"}');
    });
  });

  describe("pg.Connection (the object the pipeline's submit() writes to)", () => {
    const methods: [string, number][] = [
      ["parse", 1],
      ["bind", 1],
      ["describe", 1],
      ["execute", 1],
      ["sync", 0],
      ["sendCopyFail", 1],
    ];
    for (const [name, arity] of methods) {
      it(`has ${name}(${arity ? "config" : ""})`, () => {
        const proto = (pg as unknown as { Connection: { prototype: Record<string, unknown> } }).Connection.prototype;
        expect(typeof proto[name], `pg's Connection.${name} is gone; ${PIPELINE} calls connection.${name}()`).toBe("function");
        expect((proto[name] as (...a: unknown[]) => unknown).length, `pg's Connection.${name} now takes a different number of arguments; check ${PIPELINE}'s Connection interface`).toBe(arity);
      });
    }

    it("writes the messages submit() asks for, in order, to connection.stream, each as a separate write", () => {
      const writes: Uint8Array[] = [];
      const stream = { writable: true, write: (b: Uint8Array) => (writes.push(b), true), on() {}, once() {} };
      const con = new (pg as unknown as { Connection: new (c: unknown) => Record<string, (...a: unknown[]) => void> & { stream: unknown } }).Connection({ stream });
      expect(con.stream, `pg's Connection no longer keeps its socket at .stream; ${SESSION} coalesceWrites/MessageSizeGuard/dropSocket use it`).toBe(stream);
      const mapped: unknown[] = [];
      con.parse!({ text: "select $1" });
      con.bind!({ values: [5], valueMapper: (v: unknown) => (mapped.push(v), String(v)) });
      con.describe!({ type: "P" });
      con.execute!({ rows: 11 });
      con.sync!();
      con.sendCopyFail!("no");
      const types = writes.map((w) => String.fromCharCode(w[0]!));
      expect(types, `pg's Connection no longer sends Parse/Bind/Describe/Execute/Sync/CopyFail as the protocol bytes ${PIPELINE} expects`).toEqual(["P", "B", "D", "E", "S", "f"]);
      expect(writes.length, `pg now batches writes itself; ${SESSION} coalesceWrites may be redundant or wrong`).toBe(6);
      expect(mapped, `pg's bind() no longer calls valueMapper for each value; ${PIPELINE} relies on it to encode parameters with prepareValue`).toEqual([5]);
      const exec = Buffer.from(writes[3]!);
      expect(exec.readInt32BE(exec.length - 4), `pg's execute({ rows }) no longer sends the row limit; ${PIPELINE}'s maxRows+1 and offset skipping depend on it`).toBe(11);
      const desc = Buffer.from(writes[2]!);
      expect(String.fromCharCode(desc[5]!), `pg's describe({ type: "P" }) no longer describes the portal; ${PIPELINE} depends on the RowDescription it yields`).toBe("P");
    });

    it("pg.Client keeps its Connection at client.connection, with the socket at .stream, before connect()", () => {
      const client = new pg.Client({ connectionString: "postgres://u@127.0.0.1:1/d" }) as unknown as { connection?: { stream?: { write?: unknown; on?: unknown; destroy?: unknown } } };
      const s = client.connection?.stream;
      expect(typeof s?.write, `pg.Client.connection.stream.write is gone; ${SESSION} createClient wraps it (coalesceWrites)`).toBe("function");
      expect(typeof s?.on, `pg.Client.connection.stream.on is gone; ${SESSION} MessageSizeGuard listens for "data" on it`).toBe("function");
      expect(typeof s?.destroy, `pg.Client.connection.stream.destroy is gone; ${SESSION} dropSocket and MessageSizeGuard cut the connection with it`).toBe("function");
    });
  });

  describe("pg.Client dispatch to a submittable (lib/client.js)", () => {
    it("query(x) takes any object with submit() as the active query and returns it", () => {
      expect(clientSource, `pg.Client.query no longer accepts a submittable; ${SESSION} runPipelined passes the Pipeline to client.query()`).toMatch(/typeof config\.submit === 'function'\)\s*\{\s*result = query = config/);
      expect(clientSource, `pg.Client no longer calls submit(this.connection) on the active query; ${PIPELINE} submit(connection) writes its messages there`).toMatch(/\.submit\(this\.connection\)/);
    });

    // Each protocol message the pipeline handles, and the arguments pg passes it.
    const handlers: [string, string, RegExp][] = [
      ["rowDescription", "handleRowDescription(msg)", /activeQuery\.handleRowDescription\(msg\)/],
      ["dataRow", "handleDataRow(msg)", /activeQuery\.handleDataRow\(msg\)/],
      ["portalSuspended", "handlePortalSuspended(connection)", /activeQuery\.handlePortalSuspended\(this\.connection\)/],
      ["commandComplete", "handleCommandComplete(msg, connection)", /activeQuery\.handleCommandComplete\(msg, this\.connection\)/],
      ["emptyQuery", "handleEmptyQuery(connection)", /activeQuery\.handleEmptyQuery\(this\.connection\)/],
      ["copyInResponse", "handleCopyInResponse(connection)", /activeQuery\.handleCopyInResponse\(this\.connection\)/],
      ["copyData", "handleCopyData(msg, connection)", /activeQuery\.handleCopyData\(msg, this\.connection\)/],
      ["errorMessage", "handleError(msg, connection)", /activeQuery\.handleError\(msg, this\.connection\)/],
      ["readyForQuery", "handleReadyForQuery(connection)", /activeQuery\.handleReadyForQuery\(this\.connection\)/],
    ];
    for (const [event, call, pattern] of handlers) {
      it(`routes the connection's '${event}' event to ${call}`, () => {
        expect(clientSource, `pg.Client no longer listens for the Connection's '${event}' event; ${PIPELINE} expects it routed to ${call}`).toContain(`con.on('${event}'`);
        expect(clientSource, `pg.Client no longer calls activeQuery.${call}; ${PIPELINE} implements exactly that method`).toMatch(pattern);
      });
    }

    it("emits 'error', 'end' and 'notice' on the client (session.ts listens for them)", () => {
      for (const event of ["error", "end", "notice"]) {
        expect(clientSource, `pg.Client no longer emits '${event}'; ${SESSION} openSession listens for it`).toContain(`this.emit('${event}'`);
      }
    });
  });
});

/**
 * The pipeline drives whichever Client the session opened: pg's, or the copy
 * of it bundled (minified) inside @neondatabase/serverless. The same contract
 * is exercised on both, by behaviour rather than by reading source, so an
 * upgrade of either that changes it fails here.
 */
describe.each([
  // The Neon copy is an older pg: its sync() sends a Flush before the Sync (harmless to the pipeline, which waits for ReadyForQuery either way).
  ["pg", pg.Client as unknown as new (c: unknown) => unknown, ["P", "B", "D", "E", "S", "f"]],
  ["@neondatabase/serverless", NeonClient as unknown as new (c: unknown) => unknown, ["P", "B", "D", "E", "H", "S", "f"]],
] as const)("%s Client, as the pipeline drives it", (driver, ClientClass, wireOrder) => {
  type Call = [string, unknown[]];
  const recorder = (calls: Call[]) =>
    new Proxy({}, { get: (_t, k) => (k === "then" ? undefined : (...a: unknown[]) => void calls.push([String(k), a])) }) as Record<string, unknown>;
  const newClient = () =>
    new ClientClass({ connectionString: "postgres://u@127.0.0.1:1/d" }) as {
      connection: { emit(ev: string, msg: unknown): void; stream: unknown };
      query(q: unknown): unknown;
      activeQuery: unknown;
      readyForQuery: boolean;
      _connected: boolean;
      _connecting: boolean;
      _attachListeners(con: unknown): void;
      _pulseQueryQueue(): void;
    };

  if (driver !== "pg") {
    it(`is the release whose bundled copy of pg was checked (${VERIFIED_NEON}.x)`, () => {
      // Its exports hide package.json: read the file beside its entry point.
      const entry = require.resolve("@neondatabase/serverless");
      const version: string = JSON.parse(readFileSync(join(entry, "..", "package.json"), "utf8")).version;
      expect(minor(version), `@neondatabase/serverless is now ${version}; its bundled copy of pg was checked at ${VERIFIED_NEON}.x. Run this file and test/e2e/neon.test.ts, then update VERIFIED_NEON.`).toBe(VERIFIED_NEON);
    });
  }

  it("takes a submittable as its query and calls submit(connection) when the connection is ready", () => {
    const c = newClient();
    const calls: Call[] = [];
    const sub = recorder(calls);
    expect(c.query(sub), `${driver} Client.query no longer returns the submittable it was given; ${SESSION} runPipelined relies on it`).toBe(sub);
    c.readyForQuery = true;
    c._connected = true;
    c._pulseQueryQueue();
    expect(calls.map(([k, a]) => [k, a[0] === c.connection]), `${driver} Client no longer calls submit(this.connection) on the active query; ${PIPELINE} submit(connection) writes there`).toEqual([["submit", true]]);
  });

  it("routes each protocol message to the active query's handler, with the arguments the pipeline implements", () => {
    const c = newClient();
    c._attachListeners(c.connection);
    const calls: Call[] = [];
    const q = recorder(calls);
    const msg = { from: "server" };
    for (const ev of ["rowDescription", "dataRow", "portalSuspended", "commandComplete", "emptyQuery", "copyInResponse", "copyData", "errorMessage", "readyForQuery"]) {
      c.activeQuery = q;
      c._connecting = false;
      c.connection.emit(ev, msg);
    }
    const seen = calls.map(([k, a]) => `${k}(${a.map((x) => (x === msg ? "msg" : x === c.connection ? "connection" : typeof x)).join(", ")})`);
    expect(seen, `${driver} Client now dispatches protocol messages differently; ${PIPELINE} implements exactly these methods with these arguments`).toEqual([
      "handleRowDescription(msg)",
      "handleDataRow(msg)",
      "handlePortalSuspended(connection)",
      "handleCommandComplete(msg, connection)",
      "handleEmptyQuery(connection)",
      "handleCopyInResponse(connection)",
      "handleCopyData(msg, connection)",
      "handleError(msg, connection)",
      "handleReadyForQuery(connection)",
    ]);
  });

  it("its Connection writes Parse/Bind/Describe/Execute/Sync/CopyFail to .stream as separate writes", () => {
    const c = newClient();
    const proto = Object.getPrototypeOf(c.connection) as Record<string, (...a: unknown[]) => void>;
    const writes: Uint8Array[] = [];
    const con = Object.assign(Object.create(proto), c.connection, { stream: { writable: true, write: (b: Uint8Array) => (writes.push(b), true), on() {}, once() {} } });
    con.parse({ text: "select $1" });
    con.bind({ values: [5], valueMapper: (v: unknown) => String(v) });
    con.describe({ type: "P" });
    con.execute({ rows: 11 });
    con.sync();
    con.sendCopyFail("no");
    expect(writes.map((w) => String.fromCharCode(w[0]!)), `${driver}'s Connection no longer sends the protocol bytes ${PIPELINE} expects, one write each`).toEqual(wireOrder);
    const exec = Buffer.from(writes[3]!);
    expect(exec.readInt32BE(exec.length - 4), `${driver}'s execute({ rows }) no longer sends the row limit; ${PIPELINE}'s maxRows+1 depends on it`).toBe(11);
  });
});
