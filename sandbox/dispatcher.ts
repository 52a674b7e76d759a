/**
 * The one capability a program has: an RPC target made for this run and
 * passed as an argument to the isolate's entrypoint (the way
 * @cloudflare/codemode passes its dispatcher). Its methods execute in the
 * parent's request, so the run owns its calls: one database connection for all
 * of them (opened on first use, closed when the run ends), its counters, its
 * caller and its deadline, all in this object and out of the program's reach
 * (`#private` fields are not on the RPC surface).
 *
 * Every call goes through the same path as a direct tool call (rc.dispatch:
 * scopes, read-only, validation, statement timeout, caps, audit). Calls are
 * served one at a time: they share a connection, and an atomic script's
 * statements must not interleave with another call's.
 */
import { RpcTarget } from "cloudflare:workers";
import { programChannel, type RequestContext, type ToolRun } from "../worker/context";
import { openSession, type DbSession } from "../worker/db/session";
import { sessionName } from "../worker/db/tags";
import { txStub } from "../worker/tx/remote";
import { pgCall, type CallResult, type RunState } from "./calls";
import type { ApiEntry } from "./api";

export class RunDispatcher extends RpcTarget {
  readonly #rc: RequestContext;
  readonly #state: RunState;
  readonly #deadline: number;
  readonly #maxCalls: number;
  #session: Promise<DbSession> | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(rc: RequestContext, opts: { deadline: number; maxCalls: number; api: readonly ApiEntry[] }) {
    super();
    this.#state = { calls: 0, openTx: new Set(), done: false, api: opts.api };
    this.#deadline = opts.deadline;
    this.#maxCalls = opts.maxCalls;
    // The run's calls share one connection; a transaction held across calls keeps its own (tx argument).
    // A program cannot answer a confirmation of a destructive statement: its calls get the program channel (worker/mcp/confirm.ts).
    this.#rc = {
      ...rc,
      confirmation: programChannel(rc.confirmation),
      session: () => (this.#session ??= sessionName("code", rc.principal.id).then((applicationName) => openSession(rc.config, rc.env, { applicationName, onNotice: rc.onNotice }))),
    };
  }

  /** The program's only method: `pg.<anything>` arrives here as (name, args). */
  call(tool: string, args: unknown): Promise<CallResult> {
    const next = this.#queue.then(() => this.#serve(tool, args));
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Database calls made so far. Static, so it is not on the RPC surface the program sees. */
  static calls(d: RunDispatcher): number {
    return d.#state.calls;
  }

  async #serve(tool: string, args: unknown): Promise<CallResult> {
    const state = this.#state;
    if (state.done || Date.now() > this.#deadline) return { ok: false, error: "this program's run has ended; no more database calls", code: "run_ended" };
    if (++state.calls > this.#maxCalls) return { ok: false, error: `too many database calls (limit ${this.#maxCalls} per run)`, code: "too_many_calls" };
    this.#rc.call?.progress(`program running: database call ${state.calls} (${tool})`);
    const result = await pgCall(this.#rc, state, tool, args);
    // A statement cancelled from outside (the client's cancel, which may have landed in another isolate, or an operator) ends the run.
    if (!result.ok && result.code === "57014" && /user request/.test(result.error)) state.done = true;
    return result;
  }

  /**
   * Ends the run: no further calls, its connection closed, transactions it
   * left open rolled back. Static, so the program cannot call it through its stub.
   */
  static async finish(d: RunDispatcher): Promise<void> {
    // A call still in flight (the run timed out) fails when its connection closes; it is not waited for.
    d.#state.done = true;
    const session = d.#session;
    d.#session = undefined;
    if (session) await session.then((s) => s.close()).catch(() => {});
    for (const tx of d.#state.openTx) await txStub(d.#rc.env, tx).control(d.#rc.principal.id, { kind: "rollback" }).catch(() => {});
  }
}

export type { CallResult, ToolRun };
