/** Session names: what pg_stat_activity shows for our sessions and calls (worker/db/tags.ts). */
import { describe, expect, it } from "vitest";
import { callerPattern, runningName, sessionName } from "../../worker/db/tags";

describe("running names", () => {
  it("fit in application_name (63 bytes) and still match the caller's own-sessions pattern", async () => {
    const name = await runningName("oauth:someone@example.com:client-with-a-long-id:grant-0123456789", "a-long-request-id-from-some-client-0123456789");
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    const pattern = await callerPattern("oauth:someone@example.com:client-with-a-long-id:grant-0123456789");
    const like = new RegExp(`^${pattern.replace(/%/g, ".*")}$`);
    expect(like.test(name)).toBe(true);
  });

  it("differ by caller and by request id, and not by the id's spelling alone", async () => {
    const a = await runningName("key:aaaa", 1);
    expect(await runningName("key:aaaa", 1)).toBe(a);
    expect(await runningName("key:bbbb", 1)).not.toBe(a);
    expect(await runningName("key:aaaa", 2)).not.toBe(a);
    // A string id "1" is another request than the number 1.
    expect(await runningName("key:aaaa", "1")).not.toBe(a);
  });

  it("never carry the caller's identity or the request id in clear", async () => {
    const name = await runningName("key:secretidentity", "request-42");
    expect(name).not.toContain("secretidentity");
    expect(name).not.toContain("request-42");
    expect(name).not.toBe(await sessionName("call", "key:secretidentity"));
  });
});
