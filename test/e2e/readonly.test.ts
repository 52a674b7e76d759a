/**
 * The read-only refusal table (test/support/readonly-attempts.ts) run through
 * pg_query_read on the real Worker. Each row must be refused, leave the
 * database as it was, and leave the server serving.
 */
import { inject } from "vitest";
import { connectClient } from "../support/mcp";
import { describeRefusals } from "../support/readonly-attempts";

describeRefusals("pg_query_read refuses every write", () => connectClient(inject("mcpUrl")));
