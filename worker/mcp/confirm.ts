/**
 * Confirmation of destructive statements (CONFIRM_DESTRUCTIVE). What counts
 * as destructive is sql/destructive.ts; this is how the user is asked.
 *
 * MCP 2026-07-28 (multi round-trip requests): the call answers with an
 * input-required result carrying one form elicitation ("confirm") and a
 * requestState; the client asks the user and sends the same call again with
 * the answer and the state. The state is a random single-use token; what it
 * confirms stays on the server (the deployment's Limits object): a hash of
 * the caller and the call (tool and every argument: the SQL, its parameters,
 * the transaction). So an answer cannot be carried to another statement,
 * another caller or a second run, whatever the client sends: an unknown,
 * used, expired or mismatched token is refused, and so is an answer sent
 * without a token.
 *
 * A stateless 2025-era request cannot be asked: the elicitation would go out
 * on this request's stream, but the client's answer arrives as a new POST
 * that no server holds the question for. Those clients, and 2026-07-28
 * clients without the elicitation capability, get the fallback
 * (CONFIRM_FALLBACK): refuse with a tool error saying what to do, or proceed.
 *
 * Programs (code mode, Python) cannot answer a confirmation: their calls run
 * inside one tool call, with no round trip to the user. A destructive
 * statement in a program is refused when the client could have been asked
 * (otherwise a program would be the way around the question; the hint points
 * to the direct tool, which asks), and follows the fallback when it could
 * not (a direct call would get the same).
 */
import { inputRequired, inputResponse } from "@modelcontextprotocol/server";
import type { ConfirmChannel, RequestContext } from "../context";
import type { DestructiveStatement } from "../sql/destructive";
import { ToolError } from "../tools/errors";

/** The key of the one input request. */
export const CONFIRM_KEY = "confirm";
/** How long the user has to answer. */
export const CONFIRM_TTL_MS = 10 * 60_000;
const SHOWN = 5;

/** Thrown by ctx.confirm when the user must be asked first: runTool answers with `result`. */
export class ConfirmationRequired extends Error {
  override readonly name = "ConfirmationRequired";
  constructor(readonly result: Record<string, unknown>) {
    super("the user must confirm this call");
  }
}

const limits = (env: Env) => env.LIMITS.get(env.LIMITS.idFromName("deployment"));

async function bindingOf(rc: RequestContext, tool: string, args: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify([rc.principal.id, tool, args]));
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** "DROP TABLE (drop table orders)", for errors. */
function summary(found: readonly DestructiveStatement[]): string {
  const listed = found.slice(0, SHOWN).map((d) => `${d.what} (${d.statement})`);
  if (found.length > SHOWN) listed.push(`${found.length - SHOWN} more`);
  return listed.join("; ");
}

function question(tool: string, found: readonly DestructiveStatement[]): string {
  const lines = found.slice(0, SHOWN).map((d) => `• ${d.what}: ${d.statement}`);
  if (found.length > SHOWN) lines.push(`• … and ${found.length - SHOWN} more`);
  return `${tool} wants to run ${found.length === 1 ? "a destructive statement" : `${found.length} destructive statements`}:\n${lines.join("\n")}\n\nRun it? This cannot be undone.`;
}

const FALLBACK_HINT =
  "use an MCP client on protocol 2026-07-28 with elicitation, so the user can be asked; add a WHERE clause if not every row is meant; or the operator can set CONFIRM_FALLBACK=proceed";

function fallback(rc: RequestContext, tool: string, found: readonly DestructiveStatement[], reason: string): void {
  if (rc.config.confirm.fallback === "proceed") return;
  throw new ToolError("confirmation_required", `${tool} did not run ${summary(found)}: this deployment asks the user to confirm destructive statements (CONFIRM_DESTRUCTIVE), and ${reason}`, FALLBACK_HINT);
}

/** The confirmation step of one call: ctx.confirm. */
export function confirmer(rc: RequestContext, tool: string, args: unknown): (found: readonly DestructiveStatement[]) => Promise<void> {
  return async (found) => {
    if (!rc.config.confirm.destructive || found.length === 0) return;
    const channel: ConfirmChannel = rc.confirmation ?? { mode: "none", reason: "this client cannot be asked" };
    if (channel.mode === "program") {
      if (!channel.clientCanAsk) return fallback(rc, tool, found, channel.reason);
      throw new ToolError(
        "confirmation_required",
        `${tool} did not run ${summary(found)}: a program cannot answer the confirmation this deployment asks for destructive statements (CONFIRM_DESTRUCTIVE)`,
        `run the statement with ${tool} directly, not from a program: the user is then asked to confirm it`,
      );
    }
    if (channel.mode === "none") return fallback(rc, tool, found, channel.reason);

    const binding = await bindingOf(rc, tool, args);
    const state = channel.requestState;
    const answer = inputResponse(channel.inputResponses, CONFIRM_KEY);
    if (state === undefined && answer.kind === "missing") {
      const token = `confirm.${crypto.randomUUID()}`;
      await limits(rc.env).offerConfirmation(token, binding, Date.now() + CONFIRM_TTL_MS);
      throw new ConfirmationRequired(
        inputRequired({
          inputRequests: {
            [CONFIRM_KEY]: inputRequired.elicit({
              message: question(tool, found),
              requestedSchema: {
                type: "object",
                properties: { confirm: { type: "boolean", title: "Run it", description: "Yes: run the statement as shown. It cannot be undone.", default: false } },
                required: ["confirm"],
              },
            }),
          },
          requestState: token,
        }) as unknown as Record<string, unknown>,
      );
    }
    // An answer: it must come with the token this server gave for exactly this call, unused and unexpired.
    const taken = typeof state === "string" ? await limits(rc.env).takeConfirmation(state) : undefined;
    if (!taken || taken.binding !== binding) {
      throw new ToolError(
        "confirmation_invalid",
        `${tool} did not run ${summary(found)}: the confirmation sent with this call was not given for it (another statement or caller, already used, or older than ${CONFIRM_TTL_MS / 60_000} minutes)`,
        "call the tool again without inputResponses and requestState: the user is then asked about this statement",
      );
    }
    if (answer.kind === "elicit" && answer.action === "accept" && answer.content?.[CONFIRM_KEY] === true) return;
    const how = answer.kind !== "elicit" ? "gave no answer" : answer.action === "accept" ? "did not confirm" : answer.action === "cancel" ? "cancelled" : "declined";
    throw new ToolError("declined", `the user ${how}: ${tool} did not run ${summary(found)}; nothing was changed`, "do not retry without asking the user; a narrower statement (a WHERE clause) may be what was meant");
  };
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
