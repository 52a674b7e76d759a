/** server.json (the MCP registry entry) stays valid against the registry's published schema and in step with the package. */
import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";

// ajv and ajv-formats are declared dev dependencies (the versions the MCP SDK already brings); the schema is vendored so the test runs offline.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const root = new URL("../../", import.meta.url);
const readJson = (path: string): any => JSON.parse(readFileSync(new URL(path, root), "utf8"));

const schema = readJson("test/fixtures/registry/server.schema.json");
const server = readJson("server.json");
const pkg = readJson("package.json");

function validator() {
  // strict: false because the registry schema carries OpenAPI annotations (`example`, `discriminator`) that draft-07 does not define.
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv.compile(schema);
}

describe("server.json", () => {
  it("names the vendored schema version in $schema", () => {
    expect(server.$schema).toBe(schema.$id);
  });

  it("is valid against the MCP registry's server.json schema", () => {
    const validate = validator();
    const ok = validate(server);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it("is checked for real: the schema rejects an entry with a bad name or remote type", () => {
    const validate = validator();
    expect(validate({ ...server, name: "no-slash" })).toBe(false);
    expect(validate({ ...server, remotes: [{ ...server.remotes[0], type: "websocket" }] })).toBe(false);
  });

  it("carries the package version", () => {
    expect(server.version).toBe(pkg.version);
  });

  it("describes the remote as streamable HTTP at <deployment>/mcp with a bearer Authorization header", () => {
    expect(server.remotes).toHaveLength(1);
    const [remote] = server.remotes;
    expect(remote.type).toBe("streamable-http");
    expect(remote.url).toMatch(/^https:\/\/\{host\}\/mcp$/);
    expect(new URL(remote.url.replace("{host}", "pg-mcp.example.workers.dev")).pathname).toBe("/mcp");
    expect(Object.keys(remote.variables)).toEqual(["host"]);
    const auth = remote.headers.find((h: { name: string }) => h.name.toLowerCase() === "authorization");
    expect(auth?.value).toMatch(/^Bearer \{\w+\}$/);
    expect(auth?.isSecret).toBe(true);
  });
});
