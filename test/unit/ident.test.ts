import { describe, expect, it } from "vitest";
import { parseQualifiedName, quoteIdent, sqlName, IdentifierError } from "../../worker/sql/ident";

describe("identifiers", () => {
  const ok: [string, string][] = [
    ["orders", '"orders"'],
    ["public.orders", '"public"."orders"'],
    ["Orders", '"Orders"'],
    ['"my.schema"."my table"', '"my.schema"."my table"'],
    ['"a""b"', '"a""b"'],
    ["order items", '"order items"'],
  ];
  for (const [input, sql] of ok) it(`${input} -> ${sql}`, () => expect(sqlName(input)).toBe(sql));

  const injections = [
    'orders"; drop table orders; --',
    "a.b.c",
    "",
    "public. orders",
    "orders.",
    '"unterminated',
    "x".repeat(64),
    "a\0b",
  ];
  for (const input of injections) {
    it(`refuses ${JSON.stringify(input).slice(0, 40)}`, () => expect(() => sqlName(input)).toThrow(IdentifierError));
  }

  it("quotes embedded quotes so they cannot close the identifier", () => {
    expect(quoteIdent('x"; drop table t; --')).toBe('"x""; drop table t; --"');
  });
  it("splits schema and name", () => {
    expect(parseQualifiedName("sales.orders")).toEqual({ schema: "sales", name: "orders" });
  });
});
