/** Session names: what pg_stat_activity shows for our sessions and calls (worker/db/tags.ts). */
import { describe, expect, it } from "vitest";
import { callName, callerPattern, runningName, runningPattern, sessionName } from "../../worker/db/tags";

const like = (pattern: string) => new RegExp(`^${pattern.replace(/%/g, ".*")}$`);

describe("running names", () => {
  it("fit in application_name (63 bytes) and match both the caller's own-sessions pattern and the cancel's", async () => {
    const who = "oauth:someone@example.com:client-with-a-long-id:grant-0123456789";
    const id = "a-long-request-id-from-some-client-0123456789";
    for (const session of [await sessionName("call", who), await sessionName("code", who), await sessionName({ tx: "tx_0123456789abcdef0123456789abcdef" }, who)]) {
      const name = runningName(session, await callName(who, id));
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
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
    const a = await callName("key:aaaa", 1);
    expect(await callName("key:aaaa", 1)).toBe(a);
    expect(await callName("key:bbbb", 1)).not.toBe(a);
    expect(await callName("key:aaaa", 2)).not.toBe(a);
    // A string id "1" is another request than the number 1.
    expect(await callName("key:aaaa", "1")).not.toBe(a);
  });

  it("never carry the caller's identity or the request id in clear", async () => {
    const name = runningName(await sessionName("call", "key:secretidentity"), await callName("key:secretidentity", "request-42"));
    expect(name).not.toContain("secretidentity");
    expect(name).not.toContain("request-42");
  });
});
