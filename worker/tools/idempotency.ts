/**
 * The `idempotency_key` argument of the write tools (pg_query_write,
 * pg_code_run_sql_script, pg_tx_commit): what it accepts, and the claim a
 * keyed call carries to the database (db/idempotency.ts). The key is scoped
 * to the caller: the same key from another caller is another key.
 */
import { z } from "zod";
import { ensureIdempotencyStore, IDEMPOTENCY_TTL_HOURS, type IdempotencyClaim } from "../db/idempotency";
import { scopeAllows, type ToolContext } from "./registry";
import { ToolError } from "./errors";

export const idempotencyKeySchema = z
  .string()
  .min(8)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, "8-128 characters of A-Z a-z 0-9 _ . : -")
  .optional()
  .describe(`A retry with the same key and arguments answers with the first call's outcome instead of running again (${IDEMPOTENCY_TTL_HOURS} h). 8-128 of A-Za-z0-9_.:- (a UUID)`);

/** The replay's field in each keyed tool's structured result. */
export const replayedField = z.string().optional().describe("Set on a replay: when the first call with this idempotency_key ran");

/** The line a replay's text starts with. */
export const replayNote = (at: string) => `[replay: answered with the first outcome of this idempotency_key (${at}); nothing ran now]`;

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** JSON with object keys sorted at every level: the same arguments hash the same whatever their order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The claim of a keyed call, or undefined without a key. Makes sure the
 * schema exists first. Refused for a caller that cannot write: its calls
 * change nothing a retry could repeat.
 */
export async function idempotencyClaim(ctx: Pick<ToolContext, "principal" | "config" | "env">, tool: string, args: { idempotency_key?: string }): Promise<IdempotencyClaim | undefined> {
  const key = args.idempotency_key;
  if (key === undefined) return undefined;
  if (ctx.config.readOnly || !scopeAllows(ctx.principal.scopes, "write")) {
    throw notApplicable(`${tool} of this caller writes nothing (${ctx.config.readOnly ? "a read-only deployment" : "no write scope"}), so there is nothing a retry could repeat`);
  }
  const { idempotency_key: _, ...rest } = args as Record<string, unknown>;
  const [token, argsHash] = await Promise.all([sha256Hex(`${ctx.principal.id}\u0000${key}`), sha256Hex(`${tool}\u0000${canonical(rest)}`)]);
  await ensureIdempotencyStore(ctx.config, ctx.env);
  return { token, tool, argsHash };
}

export function notApplicable(why: string): ToolError {
  return new ToolError("idempotency_not_applicable", `idempotency_key does not apply here: ${why}`, "call again without idempotency_key");
}
