import { describe, expect, it } from "vitest";
import { splitStatements, tokenize, SqlSyntaxError } from "../../worker/sql/lexer";

describe("splitStatements", () => {
  const cases: [string, string, string[]][] = [
    ["plain", "select 1; select 2;", ["select 1", "select 2"]],
    ["semicolon in a string", "select ';'; select 2", ["select ';'", "select 2"]],
    ["doubled quote", "select 'it''s; fine'", ["select 'it''s; fine'"]],
    ["E-string backslash quote", "select E'a\\';b'; select 1", ["select E'a\\';b'", "select 1"]],
    ["quoted identifier", 'select 1 as "a;b"; select 2', ['select 1 as "a;b"', "select 2"]],
    ["line comment", "select 1 -- ; not a split\n; select 2", ["select 1", "select 2"]],
    ["nested block comment", "select /* a /* ; */ ; */ 1; select 2", ["select /* a /* ; */ ; */ 1", "select 2"]],
    ["dollar quote", "create function f() returns int as $$ begin; return 1; end $$ language plpgsql; select 1", ["create function f() returns int as $$ begin; return 1; end $$ language plpgsql", "select 1"]],
    ["tagged dollar quote containing $$", "do $x$ begin perform '$$;'; end $x$; select 1", ["do $x$ begin perform '$$;'; end $x$", "select 1"]],
    ["begin atomic body", "create function f() returns int language sql begin atomic select 1; select case when true then 2 end; end; select 3", ["create function f() returns int language sql begin atomic select 1; select case when true then 2 end; end", "select 3"]],
    ["empty statements dropped", ";; select 1;;", ["select 1"]],
    ["parameter is not a dollar quote", "select $1, $2", ["select $1, $2"]],
  ];
  for (const [name, sql, expected] of cases) {
    it(`splits: ${name}`, () => {
      expect(splitStatements(sql).map((s) => s.text)).toEqual(expected);
    });
  }

  it("reports statement offsets into the script", () => {
    const s = splitStatements("select 1;\n  select 2");
    expect(s[1]!.start).toBe(12);
  });

  for (const bad of ["select 'open", 'select "open', "select $$ open", "select /* open"]) {
    it(`rejects unterminated: ${bad}`, () => {
      expect(() => tokenize(bad)).toThrow(SqlSyntaxError);
    });
  }
});

describe("tokenize", () => {
  it("lower-cases words and unquotes identifiers", () => {
    const t = tokenize('SELECT "My""Col" FROM Tbl');
    expect(t.map((x) => [x.kind, x.value])).toEqual([
      ["word", "select"],
      ["ident", 'My"Col'],
      ["word", "from"],
      ["word", "tbl"],
    ]);
  });
  it("keeps :: casts and numbers apart", () => {
    expect(tokenize("1.5e-3::float8").map((x) => x.text)).toEqual(["1.5e-3", "::", "float8"]);
  });
});

describe("Unicode escapes and dollar tags are read as PostgreSQL reads them", () => {
  const idents: [string, string, string][] = [
    ["\\XXXX", 'select U&"\\0070g_read_file"(1)', "pg_read_file"],
    ["\\+XXXXXX", 'select U&"pg\\+00005Fread_file"(1)', "pg_read_file"],
    ["UESCAPE", "select U&\"!0070g_ls_dir\" UESCAPE '!'(1)", "pg_ls_dir"],
    ["UESCAPE after a comment", "select U&\"#0070g_ls_dir\" /* c */ uescape /* d */ '#'(1)", "pg_ls_dir"],
    ["a doubled escape character stands for itself", 'select U&"a\\\\b"', "a\\b"],
  ];
  for (const [name, sql, value] of idents) {
    it(`decodes a U& identifier: ${name}`, () => {
      expect(tokenize(sql).find((t) => t.kind === "ident")?.value).toBe(value);
    });
  }

  it("decodes U& strings too, and consumes their UESCAPE clause", () => {
    const tokens = tokenize("select U&'d!0061t!+000061' UESCAPE '!', 2");
    expect(tokens.filter((t) => t.kind === "string").map((t) => t.value)).toEqual(["data"]);
    expect(tokens.map((t) => t.kind)).toEqual(["word", "string", "op", "number"]);
  });

  it("rejects malformed escapes instead of guessing", () => {
    expect(() => tokenize('select U&"\\00zz"')).toThrow(SqlSyntaxError);
    expect(() => tokenize("select U&\"x\" UESCAPE 'a'")).toThrow(/invalid Unicode escape character/);
  });

  it("takes dollar-quote tags of any length", () => {
    const tag = `$t${"x".repeat(200)}$`;
    const sql = `select ${tag} $$ ${tag}, pg_read_file('x'), ${tag} $$ ${tag}`;
    const kinds = tokenize(sql).map((t) => t.kind);
    expect(kinds).toEqual(["word", "dollar", "op", "word", "lparen", "string", "rparen", "op", "dollar"]);
  });
});
