/** Session names: what pg_stat_activity shows for our sessions and calls (worker/db/tags.ts). */
import { describe, expect, it } from "vitest";
import { callName, callNonce, callerPattern, runningName, runningPattern, sessionName } from "../../worker/db/tags";

const like = (pattern: string) => new RegExp(`^${pattern.replace(/%/g, ".*")}$`);

describe("running names", () => {
  it("fit in application_name (63 bytes) and match both the caller's own-sessions pattern and the cancel's", async () => {
    const who = "oauth:someone@example.com:client-with-a-long-id:grant-0123456789";
    const id = "a-long-request-id-from-some-client-0123456789";
    for (const session of [await sessionName("call", who), await sessionName("code", who), await sessionName({ tx: "tx_0123456789abcdef0123456789abcdef" }, who)]) {
      const nonce = callNonce();
      const name = runningName(session, await callName(who, id, undefined, nonce));
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
      // The call's own pattern (its nonce) and the cancel's (any nonce) both find it; another call's own pattern does not.
      expect(like(await runningPattern(who, id, undefined, nonce)).test(name)).toBe(true);
      expect(like(await runningPattern(who, id, undefined, callNonce())).test(name)).toBe(false);
      // The monitor's own-sessions pattern covers programs and held transactions (not one-call sessions), running or not.
      if (!session.startsWith("pg-mcp by ")) {
        expect(like(await callerPattern(who)).test(name)).toBe(true);
        expect(like(await callerPattern(who)).test(session)).toBe(true);
      }
      expect(like(await runningPattern(who, id)).test(name)).toBe(true);
      expect(like(await runningPattern(who, id)).test(session)).toBe(false);
      expect(like(await runningPattern("key:someone-else", id)).test(name)).toBe(false);
    }
  });

  it("differ by caller and by request id, and not by the id's spelling alone", async () => {
    const n = callNonce();
    const a = await callName("key:aaaa", 1, undefined, n);
    expect(await callName("key:aaaa", 1, undefined, n)).toBe(a);
    expect(await callName("key:bbbb", 1, undefined, n)).not.toBe(a);
    expect(await callName("key:aaaa", 2, undefined, n)).not.toBe(a);
    // A string id "1" is another request than the number 1.
    expect(await callName("key:aaaa", "1", undefined, n)).not.toBe(a);
    // The same caller and id in another call: another name.
    expect(await callName("key:aaaa", 1, undefined, callNonce())).not.toBe(a);
  });

  it("never carry the caller's identity or the request id in clear", async () => {
    const name = runningName(await sessionName("call", "key:secretidentity"), await callName("key:secretidentity", "request-42", undefined, callNonce()));
    expect(name).not.toContain("secretidentity");
    expect(name).not.toContain("request-42");
  });
});
