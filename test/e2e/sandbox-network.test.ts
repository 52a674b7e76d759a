/**
 * Code mode's isolates have no network (globalOutbound: null): a program's
 * fetch or connect must not reach anything, checked by a real HTTP server on
 * loopback that counts the requests it gets. (A JavaScript program only; the
 * Python sandbox's own tests cover Python.)
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { call, connectClient, rawText } from "../support/mcp";

let server: Server;
let hits = 0;
let target: string;
let client: Client;
beforeAll(async () => {
  server = createServer((_req, res) => {
    hits++;
    res.end("reached");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  client = await connectClient(inject("mcpUrl"));
});
afterAll(async () => {
  await client?.close();
  await new Promise((r) => server?.close(r));
});

describe("code mode has no network", () => {
  it("a program's fetch to a listening loopback server fails and the server sees nothing", async () => {
    // The server is reachable from this process: the test would notice a sandbox that could reach it.
    expect(await (await fetch(target)).text()).toBe("reached");
    hits = 0;
    const r = await call(client, "pg_execute_code", { code: `const res = await fetch(${JSON.stringify(target)}); return await res.text();` });
    expect(r.isError).toBe(true);
    expect(rawText(r)).toMatch(/^ERROR program_error: /);
    expect(rawText(r)).not.toContain("reached");
    expect(hits).toBe(0);
  });
});
