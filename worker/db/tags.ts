/**
 * What our sessions are called in pg_stat_activity. application_name is
 * readable by every role on the server (even for other roles' sessions), so
 * it never carries a transaction id or anything else that grants access:
 * only short one-way tags, enough for a caller to find its own sessions and
 * for an operator to tell callers apart.
 *
 *   pg-mcp by <caller>               one call
 *   pg-mcp code by <caller>          a program's calls
 *   pg-mcp tx <tx> by <caller>       a held transaction
 *   <any of these> call <call> <n>   while it runs a statement of one tools/call
 *                                    (SET LOCAL), so that a cancel can find it
 *                                    (db/cancel.ts); <n> tells apart two calls
 *                                    with the same caller and request id
 */
const TAG_HEX = 12;

async function tag(kind: string, value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`pg-mcp ${kind}:${value}`));
  return [...new Uint8Array(digest)].slice(0, TAG_HEX / 2).map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The caller's tag: the same for every session of one principal. */
export const callerTag = (principalId: string) => tag("caller", principalId);

/** A held transaction's tag: lets an operator match a session to a transaction it already knows, never the reverse. */
export const txTag = (txId: string) => tag("tx", txId);

export async function sessionName(kind: "call" | "code" | { tx: string }, principalId: string): Promise<string> {
  const by = `by ${await callerTag(principalId)}`;
  if (kind === "call") return `pg-mcp ${by}`;
  if (kind === "code") return `pg-mcp code ${by}`;
  return `pg-mcp tx ${await txTag(kind.tx)} ${by}`;
}

/**
 * What a tools/call's statements add to their session's name while they run:
 * `call <tag> <nonce>`. The tag is of its caller, its client (the
 * Mcp-Session-Id the client sends, when it sends one) and JSON-RPC id, the
 * only things a notifications/cancelled (which may arrive in another isolate)
 * says about it. The nonce is the call's own (callNonce): a client may reuse
 * a request id (one call after another, or a call refused by its limits
 * beside one that runs), and a call that stops in its own isolate cancels its
 * own statement by its whole name, never another call's.
 */
export async function callName(principalId: string, requestId: string | number, client: string | undefined, nonce: string): Promise<string> {
  const who = client === undefined ? principalId : `${principalId}\u0000${client}`;
  return `call ${await tag("call", `${who}\u0000${JSON.stringify(requestId)}`)} ${nonce}`;
}

const NONCE_HEX = 6;

/** A call's own suffix: random, short enough that the longest running name still fits in 63 bytes. */
export function callNonce(): string {
  return [...crypto.getRandomValues(new Uint8Array(NONCE_HEX / 2))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A session's name while it runs a statement of the call named `call` (callName). */
export const runningName = (session: string, call: string) => `${session} ${call}`;

/**
 * A LIKE pattern matching the sessions running a statement of this caller's
 * (and client's) call `requestId`: of the one call whose nonce is given, or
 * of any call with that id (a cancel from another isolate knows no nonce).
 */
export async function runningPattern(principalId: string, requestId: string | number, client?: string, nonce = "%"): Promise<string> {
  return `pg-mcp %by ${await callerTag(principalId)} ${await callName(principalId, requestId, client, nonce)}`;
}

/** A LIKE pattern matching every session of one caller. */
export async function callerPattern(principalId: string): Promise<string> {
  // Followed by nothing, or by a running call's name.
  return `pg-mcp % by ${await callerTag(principalId)}%`;
}
