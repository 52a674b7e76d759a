/**
 * What one request carries to every layer that serves it: the MCP layer, the
 * tools and the sandbox. It lives below all of them so none imports another
 * to learn its shape.
 */
import type { Config } from "./config";
import type { Principal } from "./auth/principal";
import type { DbSession } from "./db/session";
import type { ToolErrorInfo } from "./tools/errors";

/** The outcome of one tool call before it becomes an MCP result: code mode reads the structured parts. */
export type ToolRun = { ok: true; structured: unknown; text: string } | { ok: false; info: ToolErrorInfo; text: string };

/** Runs a tool as `rc`'s caller with every check a direct call gets; an unknown tool throws, invalid arguments are a ToolRun error. */
export type ToolDispatch = (rc: RequestContext, name: string, args: unknown) => Promise<ToolRun>;

export interface RequestContext {
  env: Env;
  config: Config;
  principal: Principal;
  waitUntil(p: Promise<unknown>): void;
  /**
   * A connection the caller owns and keeps open across calls (a code-mode run
   * holds one for all its calls). Without it each call opens its own and
   * closes it afterwards.
   */
  session?: () => Promise<DbSession>;
  /** The tool path itself (worker/mcp/server.ts runTool), handed down so the sandbox can call tools without importing the MCP layer. */
  dispatch: ToolDispatch;
  /**
   * Settles when the caller's limits have admitted this request (rejects when
   * they refused it). Decided while the request is parsed and its connection
   * opens; nothing reaches the database before it settles. Absent: admitted.
   */
  admitted?: Promise<void>;
  /** Open the connection while admission is decided (the caller was admitted last time). @default false */
  warmConnection?: boolean;
}
