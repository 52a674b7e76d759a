/**
 * How a call's destructive statements can be confirmed: the channel, decided
 * per request by the MCP layer (channelFor) and narrowed for programs
 * (programChannel). No imports: the request context and the sandbox share it.
 * The confirmation itself is worker/mcp/confirm.ts.
 */

/**
 * Whether and how the user can be asked to confirm a destructive statement
 * in this call (worker/mcp/confirm.ts):
 * - "ask": the client takes an input-required result (MCP 2026-07-28 with
 *   the elicitation capability); on its retry the answer and the state.
 * - "none": it cannot be asked, for the reason given; the fallback applies.
 * - "program": a call from a code-mode or Python program, which cannot
 *   answer; `clientCanAsk` tells whether the program's own client could.
 */
export type ConfirmChannel =
  | { mode: "ask"; inputResponses?: Record<string, unknown>; requestState?: unknown }
  | { mode: "none"; reason: string }
  | { mode: "program"; clientCanAsk: boolean; reason: string };

/** The channel for the calls of a program started by a call whose channel is `outer`. */
export function programChannel(outer: ConfirmChannel | undefined): ConfirmChannel {
  if (outer?.mode === "ask") return { mode: "program", clientCanAsk: true, reason: "" };
  return { mode: "program", clientCanAsk: false, reason: outer?.reason ?? "this client cannot be asked" };
}

/**
 * The channel for one tools/call: "ask" on a 2026-07-28 request whose
 * client declared form elicitation (as the SDK's own gate reads it: a bare
 * `elicitation: {}` counts as form), "none" otherwise.
 */
export function channelFor(protocolVersion: string | undefined, clientCapabilities: unknown, inputResponses: Record<string, unknown> | undefined, requestState: unknown): ConfirmChannel {
  if (protocolVersion === undefined || protocolVersion < "2026-07-28") {
    return { mode: "none", reason: `this client cannot be asked: on protocol ${protocolVersion ?? "2025-era"} a stateless server cannot receive an elicitation answer (that needs protocol 2026-07-28)` };
  }
  const elicitation = (clientCapabilities as { elicitation?: unknown } | undefined)?.elicitation;
  const form = typeof elicitation === "object" && elicitation !== null && ("form" in elicitation || !("url" in elicitation));
  if (!form) return { mode: "none", reason: "this client did not declare the elicitation capability (form mode), so it cannot be asked" };
  return { mode: "ask", inputResponses, requestState };
}
