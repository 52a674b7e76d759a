import { describe, expect, it } from "vitest";
import { permissionHint } from "../../worker/db/permission";

const read = { role: "pgmcp_read", readRole: true };
const server = (sql: string) => ({ role: "pgmcp", readRole: false, sql });

describe("42501 hints name the role that was refused and the grant that would allow it", () => {
  it("a table the read role may not read", () => {
    expect(permissionHint("permission denied for table rb_private", read)).toBe(
      "Reads act as the role pgmcp_read, which lacks this privilege. If it should be allowed, the database owner can run: GRANT SELECT ON rb_private TO pgmcp_read",
    );
  });

  it("quotes names PostgreSQL would not read back unchanged", () => {
    expect(permissionHint("permission denied for table Order Items", read)).toContain('GRANT SELECT ON "Order Items" TO pgmcp_read');
    expect(permissionHint("permission denied for column secret of relation people", read)).toContain("GRANT SELECT (secret) ON people TO pgmcp_read");
    expect(permissionHint('permission denied for column "Secret" of relation "People"', read)).toContain('GRANT SELECT ("Secret") ON "People" TO pgmcp_read');
  });

  it("schemas, functions and sequences", () => {
    expect(permissionHint("permission denied for schema hidden", read)).toContain("GRANT USAGE ON SCHEMA hidden TO pgmcp_read");
    expect(permissionHint("permission denied for function f", read)).toContain("GRANT EXECUTE ON FUNCTION f TO pgmcp_read");
    const seq = permissionHint("permission denied for sequence ids", read);
    expect(seq).toContain("GRANT SELECT ON SEQUENCE ids TO pgmcp_read");
    expect(seq).toContain("write scope");
  });

  it("a write names the server's role and the privilege the statement needs", () => {
    expect(permissionHint("permission denied for table t", server("insert into t values (1)"))).toContain("Writes and administration act as the server's role pgmcp, which lacks this privilege. If it should be allowed, the database owner can run: GRANT INSERT ON t TO pgmcp");
    expect(permissionHint("permission denied for table t", server("  DELETE FROM t"))).toContain("GRANT DELETE");
    expect(permissionHint("permission denied for schema s", server("create table s.x (a int)"))).toContain("GRANT CREATE ON SCHEMA s TO pgmcp");
  });

  it("ownership: the fix without naming the owner", () => {
    const h = permissionHint("must be owner of table t", server("alter table t add column b int"));
    expect(h).toContain("ALTER TABLE t OWNER TO pgmcp");
    expect(h).toContain("or grant the owning role to pgmcp");
  });

  it("anything else a read may not do points at the write and admin scopes", () => {
    expect(permissionHint("permission denied to cancel query", read)).toMatch(/write scope.*admin scope/);
  });

  it("a message in another language still gets the role", () => {
    expect(permissionHint("Keine Berechtigung für Tabelle t", read)).toContain("pgmcp_read");
    expect(permissionHint("Keine Berechtigung für Tabelle t", { role: undefined, readRole: false })).toContain("<the server's role>");
  });
});
