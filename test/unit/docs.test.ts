/** docs/TOOLS.md is generated from the registry; this keeps it from drifting. */
import { readFileSync, existsSync } from "node:fs";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { TOOLS_MD, loadRegistry, renderToolsMarkdown, type DocTool } from "../../scripts/gen-docs";

// Tool modules may import Workers runtime classes; reading the registry only needs them to exist.
vi.mock("cloudflare:workers", () => ({ WorkerEntrypoint: class {}, DurableObject: class {}, WorkflowEntrypoint: class {}, RpcTarget: class {}, env: {} }));

let tools: readonly DocTool[];
let md: string;
beforeAll(async () => {
  const registry = await loadRegistry();
  tools = registry.tools;
  md = renderToolsMarkdown(registry);
});

describe("docs/TOOLS.md", () => {
  it("is up to date with the tool registry", () => {
    const current = existsSync(TOOLS_MD) ? readFileSync(TOOLS_MD, "utf8") : "";
    expect(current === md, "docs/TOOLS.md is stale or missing: run npm run docs").toBe(true);
  });

  it("documents every tool with its scope, annotations and parameters", () => {
    for (const t of tools) {
      expect(md, t.name).toContain(`### \`${t.name}\`: ${t.title}`);
      expect(md, t.name).toContain(t.description);
    }
    const create = md.slice(md.indexOf("### `pg_schema_create`"), md.indexOf("### `pg_schema_alter`"));
    expect(create).toContain("- scope: `write`");
    expect(create).toContain("- annotations: writes, non-destructive, not idempotent, closed world");
    expect(create).toContain('| `kind` | "table" \\| "column" \\| "index" \\| "constraint" \\| "view" \\| "matview" \\| "schema" | yes |');
    expect(create).toContain("| `columns[].type` | string | yes | e.g. bigserial, text, numeric(10,2) |");
  });
});
