/**
 * The read-only refusal table (test/support/readonly-attempts.ts) through
 * pg_query_read on the real Worker, three ways: as the read role (the default
 * configuration, as `npm run dev` runs), with READ_ROLE unset (reads act as
 * the least-privilege server role), and inside a transaction held across
 * calls. Each row must be refused the way it says, leave nothing behind
 * (seen from a second connection and the file system), and leave the server
 * serving. The read-only deployment runs it too (auth.test.ts).
 */
import { inject } from "vitest";
import { connectClient } from "../support/mcp";
import { describeRefusals } from "../support/readonly-attempts";

const serverUrl = () => inject("serverDatabaseUrl");
describeRefusals("pg_query_read as the read role", () => connectClient(inject("mcpUrl")), serverUrl);
describeRefusals("pg_query_read with READ_ROLE unset (the least-privilege server role reads)", () => connectClient(inject("noReadRoleMcpUrl")), serverUrl);
describeRefusals("pg_query_read inside a held transaction", () => connectClient(inject("mcpUrl")), serverUrl, { inTransaction: true });
