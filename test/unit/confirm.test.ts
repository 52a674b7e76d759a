import { describe, expect, it } from "vitest";
import { channelFor, programChannel } from "../../worker/confirmation";

describe("who can be asked to confirm", () => {
  it("2025-era requests cannot: a stateless server never receives the answer", () => {
    for (const v of [undefined, "2025-06-18", "2025-11-25"]) expect(channelFor(v, { elicitation: { form: {} } }, undefined, undefined)).toMatchObject({ mode: "none", reason: expect.stringMatching(/stateless server cannot receive an elicitation answer/) });
  });

  it("2026-07-28 requests can when they declare form elicitation, read as the SDK's gate reads it", () => {
    expect(channelFor("2026-07-28", { elicitation: { form: {} } }, { confirm: { action: "accept" } }, "s")).toEqual({ mode: "ask", inputResponses: { confirm: { action: "accept" } }, requestState: "s" });
    expect(channelFor("2026-07-28", { elicitation: {} }, undefined, undefined).mode).toBe("ask");
    expect(channelFor("2026-07-28", { elicitation: { form: {}, url: {} } }, undefined, undefined).mode).toBe("ask");
    for (const caps of [undefined, {}, { elicitation: { url: {} } }, { elicitation: true }, { sampling: {} }]) {
      expect(channelFor("2026-07-28", caps, undefined, undefined)).toMatchObject({ mode: "none", reason: expect.stringMatching(/did not declare the elicitation capability/) });
    }
  });

  it("a program never answers; it knows whether its client could have", () => {
    expect(programChannel({ mode: "ask" })).toEqual({ mode: "program", clientCanAsk: true, reason: "" });
    expect(programChannel({ mode: "none", reason: "r" })).toEqual({ mode: "program", clientCanAsk: false, reason: "r" });
    expect(programChannel(undefined)).toMatchObject({ mode: "program", clientCanAsk: false });
  });
});
