/** `npm run dev` runs the Worker under wrangler dev; this checks that path end to end. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { connectClient, rows } from "../support/mcp";

let client: Client;
beforeAll(async () => {
  client = await connectClient(inject("devMcpUrl"));
});
afterAll(async () => client?.close());

describe("wrangler dev", () => {
  it("serves tools/list and a query against the Hyperdrive local connection string", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("pg_query_read");
    expect(await rows(client, "select count(*)::int from customers")).toEqual([[200]]);
  });
});
