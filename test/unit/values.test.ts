import { describe, expect, it } from "vitest";
import { isoTimestamp, tsvCell, wireTypes } from "../../worker/db/values";

const parse = (oid: number, text: string) => wireTypes.getTypeParser(oid)(text);

describe("value formatting", () => {
  it("keeps bigint and numeric exact", () => {
    expect(parse(20, "9223372036854775807")).toBe("9223372036854775807");
    expect(parse(1700, "12345678901234567890.123456789")).toBe("12345678901234567890.123456789");
  });
  it("makes timestamps ISO 8601", () => {
    expect(isoTimestamp("2024-01-02 03:04:05.5+05")).toBe("2024-01-02T03:04:05.5+05:00");
    expect(isoTimestamp("2024-01-02 03:04:05-03:30")).toBe("2024-01-02T03:04:05-03:30");
    expect(isoTimestamp("infinity")).toBe("infinity");
    expect(parse(1114, "2024-01-02 03:04:05")).toBe("2024-01-02T03:04:05");
  });
  it("encodes bytea as base64", () => {
    expect(parse(17, "\\x48656c6c6f")).toBe("SGVsbG8=");
  });
  it("parses arrays with their element type", () => {
    expect(parse(1007, "{1,2,NULL}")).toEqual([1, 2, null]);
    expect(parse(1016, "{9223372036854775807}")).toEqual(["9223372036854775807"]);
  });
  it("keeps NaN and Infinity floats as strings", () => {
    expect(parse(701, "NaN")).toBe("NaN");
    expect(parse(701, "1.5")).toBe(1.5);
  });
  it("escapes TSV cells", () => {
    expect(tsvCell("a\tb\nc\\d")).toBe("a\\tb\\nc\\\\d");
    expect(tsvCell(null)).toBe("\\N");
    expect(tsvCell({ a: 1 })).toBe('{"a":1}');
  });
});
