/**
 * What one request carries to every layer that serves it: the MCP layer, the
 * tools and the sandbox. It lives below all of them so none imports another
 * to learn its shape.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Config } from "./config";
import type { Principal } from "./auth/principal";
import type { DbNotice, DbSession } from "./db/session";
import type { ToolErrorInfo } from "./tools/errors";
import type { ConfirmChannel } from "./confirmation";

export type { ConfirmChannel } from "./confirmation";

/**
 * The outcome of one tool call before it becomes an MCP result: code mode
 * reads the structured parts. `inputRequired` (only on a call whose client
 * can be asked, never in a program): the MCP input-required result to answer
 * with instead, the call not having run.
 */
export type ToolRun = { ok: true; structured: unknown; text: string } | { ok: false; info: ToolErrorInfo; text: string; inputRequired?: Record<string, unknown> };

/** Runs a tool as `rc`'s caller with every check a direct call gets; an unknown tool throws, invalid arguments are a ToolRun error. */
export type ToolDispatch = (rc: RequestContext, name: string, args: unknown) => Promise<ToolRun>;

/**
 * One tools/call in flight: how its work learns that the client gave up, how
 * its statements are named so a canceller on another connection can find
 * them, and how it reports progress. Set by the MCP layer (mcp/calls.ts).
 */
export interface CallControl {
  /** Aborted when the client cancels the call (notifications/cancelled) or its HTTP request goes away. */
  readonly signal: AbortSignal;
  /**
   * Added to the session's application_name while one of this call's
   * statements runs (SET LOCAL in its transaction), so that a cancel, from
   * this isolate or another, finds the backend in pg_stat_activity
   * (db/tags.ts callName, db/cancel.ts). One-way, like every tag.
   */
  readonly callName: string;
  /** Reports progress to the client when it asked for it (a progressToken); otherwise nothing. */
  progress(message: string): void;
}

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
  /**
   * Which client of the caller sent the request: the Mcp-Session-Id it sends
   * (handed out at initialize, see app.ts; nothing is kept for it). Only
   * scopes cancellation (mcp/calls.ts): it grants nothing, and a client that
   * names another's id reaches only its own caller's calls.
   */
  client?: string;
  /** The tools/call being served, when there is one. */
  call?: CallControl;
  /**
   * Where PostgreSQL's notices during this request go (the MCP layer turns
   * them into log messages or a summary in the tool result). Every
   * connection opened for the request passes them here.
   */
  onNotice?: (notice: DbNotice) => void;
  /**
   * The client asked for one JSON answer (Accept without text/event-stream):
   * notifications sent during the request cannot reach it.
   */
  jsonOnly?: boolean;
  /** How a destructive statement in this call is confirmed. Absent: the client cannot be asked. */
  confirmation?: ConfirmChannel;
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

/**
 * The request being served, for code the SDK calls without it: the server
 * factory, and a completion callback built once per isolate (mcp/prompts.ts).
 * Set by the HTTP handler (mcp/handler.ts) around each request.
 */
export const currentRequest = new AsyncLocalStorage<RequestContext>();
