/**
 * Group `tx`: transactions held open across tool calls. pg_tx_begin returns a
 * transaction id and its lease; the query and schema tools take `tx` to run
 * inside it. See durable-objects/tx-session.ts for the lease rules.
 */
import { z } from "zod";
import { deploymentLimits, freeSlot } from "../../durable-objects/names";
import type { CommitAnswer, Isolation, Lease, TxControl, TxResult, TxStatus } from "../../durable-objects/tx-session";
import { callHolder, newTxId, TX_ID_PATTERN, txStub } from "../tx/remote";
import { ToolError } from "./errors";
import { defineTool, scopeAllows, type ToolAnnotations, type ToolContext } from "./registry";
import { identifierSchema } from "../sql/ident";
import { decodeOutcome, reusedError, SETTLE_SQL, type IdempotencyClaim } from "../db/idempotency";
import { toObjects } from "../db/executor";
import { idempotencyClaim, idempotencyKeySchema, replayedField, replayNote } from "./idempotency";

const txId = z.string().regex(TX_ID_PATTERN, "a transaction id from pg_tx_begin");
const STATE: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

const LeaseSchema = z.object({
  tx: z.string(),
  isolation: z.string(),
  readOnly: z.boolean(),
  idleTimeoutMs: z.number(),
  expiresAt: z.string(),
});

function leaseText(l: Lease): string {
  return `tx=${l.tx} ${l.isolation}${l.readOnly ? " read only" : ""}; rolled back if idle ${l.idleTimeoutMs / 1000} s or at ${l.expiresAt}. Pass tx to pg_query_*/pg_schema_* tools.`;
}

export const txBegin = defineTool({
  name: "pg_tx_begin",
  group: "tx",
  title: "Begin a transaction",
  description: "Open a transaction that spans calls; returns its id (pass as tx) and lease. Rolled back when idle too long or past its deadline.",
  scope: "read",
  input: z.object({
    isolation: z.enum(["read committed", "repeatable read", "serializable"]).optional(),
    readOnly: z.boolean().optional().describe("Default false (needs write scope)"),
    deferrable: z.boolean().optional(),
    idleTimeoutMs: z.number().int().min(500).optional(),
  }),
  output: LeaseSchema,
  annotations: STATE,
  audit: (args) => !args.readOnly,
  async handler(args, ctx) {
    const readOnly = args.readOnly ?? ctx.config.readOnly;
    if (!readOnly && !scopeAllows(ctx.principal.scopes, "write")) {
      throw new ToolError("insufficient_scope", "a read-write transaction needs the write scope", "pass readOnly: true");
    }
    const { idleTimeoutMs: maxIdle, maxAgeMs, maxOpen } = ctx.config.tx;
    if (args.idleTimeoutMs !== undefined && args.idleTimeoutMs > maxIdle) throw new ToolError("invalid_lease", `idleTimeoutMs is at most ${maxIdle} on this server`);
    const tx = newTxId();
    const limits = deploymentLimits(ctx.env);
    const slot = await limits.openSlot("tx", tx, Date.now() + maxAgeMs + 60_000, maxOpen);
    if (!slot.ok) throw new ToolError("too_many_transactions", `${slot.open} transactions are open on this server (MAX_OPEN_TRANSACTIONS=${maxOpen})`, "commit or roll back one, or wait for one to expire");
    let lease: Lease;
    try {
      lease = await callHolder(tx, "begin", async () =>
        (await txStub(ctx.env, tx).begin({
          txId: tx,
          owner: ctx.principal.id,
          isolation: (args.isolation ?? "read committed") as Isolation,
          readOnly,
          deferrable: args.deferrable ?? false,
          idleTimeoutMs: args.idleTimeoutMs ?? maxIdle,
          maxAgeMs,
          ...(ctx.principal.db ? { identity: ctx.principal.db } : {}),
        })) as TxResult<Lease>,
      );
    } catch (e) {
      await freeSlot(ctx.env, "tx", tx);
      throw e;
    }
    return { structured: lease, text: leaseText(lease) };
  },
});

async function control(ctx: ToolContext, tx: string, c: TxControl) {
  return callHolder(tx, c.kind === "commit" ? "commit" : "call", async () => (await txStub(ctx.env, tx).control(ctx.principal.id, c)) as TxResult<CommitAnswer>);
}

const StateOutput = z.object({ tx: z.string(), state: z.string() });

function controlTool(name: string, title: string, description: string, kind: TxControl["kind"], withName: boolean, annotations: ToolAnnotations) {
  const input = withName ? z.object({ tx: txId, name: identifierSchema }) : z.object({ tx: txId });
  return defineTool({
    name,
    group: "tx",
    title,
    description,
    scope: "read",
    input,
    output: StateOutput,
    annotations,
    audit: kind === "commit" || kind === "rollback",
    untrusted: false,
    async handler(args, ctx) {
      const a = args as { tx: string; name?: string };
      const r = await control(ctx, a.tx, (withName ? { kind, name: a.name } : { kind }) as TxControl);
      return { structured: { tx: a.tx, state: r.state }, text: `${a.tx}: ${r.state}${a.name ? ` (savepoint ${a.name})` : ""}` };
    },
  });
}

const FINAL: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false };

export const txCommit = defineTool({
  name: "pg_tx_commit",
  group: "tx",
  title: "Commit a transaction",
  description: "Commit and end the transaction. With idempotency_key, a retry (after a lost answer or commit_unknown) answers whether it committed.",
  scope: "read",
  input: z.object({ tx: txId, idempotency_key: idempotencyKeySchema }),
  output: StateOutput.extend({ replayed: replayedField }),
  annotations: FINAL,
  audit: true,
  untrusted: false,
  async handler(args, ctx) {
    const claim = await idempotencyClaim(ctx, "pg_tx_commit", args);
    const r = await control(ctx, args.tx, { kind: "commit", ...(claim ? { idempotency: claim } : {}) });
    const answer = r.settle && claim ? await settleByKey(ctx, args.tx, claim, r.settle.xid) : r;
    const structured = { tx: args.tx, state: answer.state, ...(answer.replayed ? { replayed: answer.replayed } : {}) };
    return { structured, text: `${answer.replayed ? `${replayNote(answer.replayed)}\n` : ""}${args.tx}: ${answer.state}` };
  },
});

/**
 * A keyed COMMIT whose outcome its holder could not learn: the key's row was
 * written in the transaction just before COMMIT, so the row is there if and
 * only if it committed. The lookup waits for a backend still committing it.
 */
async function settleByKey(ctx: ToolContext, tx: string, claim: IdempotencyClaim, xid: string | undefined): Promise<CommitAnswer> {
  let row: { tool: string; args_hash: string; outcome: string | null; at_ms: number } | undefined;
  try {
    // On the caller's own connection (the same login as the transaction's): the transaction's object has closed it.
    [row] = toObjects<NonNullable<typeof row>>(await (ctx.ownSql ?? ctx.sql).write(SETTLE_SQL, [claim.token], { rollback: true }));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ToolError("commit_unknown", `transaction ${tx}: its COMMIT's outcome is not known yet, and its idempotency key could not be read (${why})`, `retry pg_tx_commit with the same idempotency_key shortly; do not commit again${xid ? `; or check with select pg_xact_status('${xid}'::xid8)` : ""}`);
  }
  if (!row) throw new ToolError("tx_closed", `transaction ${tx} was rolled back: its connection was lost at COMMIT, and its idempotency key was never committed`, "nothing was committed: begin a new transaction and retry");
  if (row.args_hash !== claim.argsHash) throw reusedError("pg_tx_commit");
  const first = decodeOutcome<{ state: string }>(row);
  return { state: first?.value.state ?? "committed", replayed: first?.at ?? new Date(Number(row.at_ms)).toISOString() };
}
export const txRollback = controlTool("pg_tx_rollback", "Roll back a transaction", "Roll back and end the transaction.", "rollback", false, { ...FINAL, idempotentHint: true });
export const txSavepoint = controlTool("pg_tx_savepoint", "Set a savepoint", "SAVEPOINT name inside the transaction.", "savepoint", true, STATE);
export const txRelease = controlTool("pg_tx_release", "Release a savepoint", "RELEASE SAVEPOINT name.", "release", true, STATE);
export const txRollbackTo = controlTool("pg_tx_rollback_to", "Roll back to a savepoint", "ROLLBACK TO SAVEPOINT name; also clears an aborted state.", "rollback_to", true, FINAL);

export const txStatus = defineTool({
  name: "pg_tx_status",
  group: "tx",
  title: "Transaction status",
  description: "State (open/aborted), lease, savepoints and idle time of a transaction.",
  scope: "read",
  input: z.object({ tx: txId }),
  output: LeaseSchema.extend({ state: z.string(), statements: z.number(), savepoints: z.array(z.string()), idleMs: z.number() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  untrusted: false,
  async handler(args, ctx) {
    const s = await callHolder(args.tx, "call", async () => (await txStub(ctx.env, args.tx).status(ctx.principal.id)) as TxResult<TxStatus>);
    return { structured: s, text: `${s.tx}: ${s.state}, ${s.statements} statements, idle ${Math.round(s.idleMs / 1000)} s, savepoints [${s.savepoints.join(", ")}]. ${leaseText(s)}` };
  },
});

export const txTools = [txBegin, txCommit, txRollback, txSavepoint, txRelease, txRollbackTo, txStatus];
