/**
 * Compiles a model-written program for the sandbox: TypeScript types are
 * stripped (sucrase: small, runs in a Worker), then the JavaScript is
 * instrumented with a deterministic operation budget. `__pg_tick()` goes at
 * the top of every loop body, function body, catch and finally block, so a
 * synchronous `while (true) {}` (which no timer can interrupt: the runtime's
 * clock does not advance during synchronous execution in production, and
 * locally the parent shares the thread) throws once the budget is spent,
 * however it is nested or caught. Regular expression literals are replaced by
 * `__pg_regex(source, flags)`, which builds the sandbox's RE2-backed RegExp:
 * the program never creates a native (backtracking) RegExp, so no native
 * prototype or constructor is reachable from it. Spreads go through
 * __pg_spread, which charges (and drains) what they copy against the
 * allocation budget (`[...a, ...a]` doubling, `[...iter]`). Names starting with __pg are
 * reserved so a program cannot shadow or replace the instrumentation.
 */
import { transform } from "sucrase";
import { parse, type Node } from "acorn";

export class CompileError extends Error {
  override readonly name = "CompileError";
  constructor(
    message: string,
    /** 1-based line and column in the submitted code, when known. */
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
  }
}

interface Edit {
  at: number;
  text: string;
  /** 2 replaces the node's text (applied before any wrapper at the same offset), 1 opens a wrapper, 0 closes one. */
  order: number;
  /** Characters of the original text removed at `at` (order 2). */
  remove?: number;
  /** Nesting depth of the node that made the edit: wrappers nest properly when several start or end at one offset. */
  depth: number;
}

const LOOPS = new Set(["WhileStatement", "DoWhileStatement", "ForStatement", "ForInStatement", "ForOfStatement"]);
const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
const TICK = "__pg_tick();";

type AnyNode = Node & Record<string, unknown>;

function children(node: AnyNode): AnyNode[] {
  const out: AnyNode[] = [];
  for (const key of Object.keys(node)) {
    if (key === "loc" || key === "range") continue;
    const v = node[key];
    if (Array.isArray(v)) for (const c of v) c && typeof c === "object" && typeof (c as AnyNode).type === "string" && out.push(c as AnyNode);
    else if (v && typeof v === "object" && typeof (v as AnyNode).type === "string") out.push(v as AnyNode);
  }
  return out;
}

/** Strips types, refuses what a sandboxed program may not use, and inserts the budget checks. */
export function compileProgram(source: string): string {
  let js: string;
  try {
    // keepUnusedImports: an import the program does not use must still be refused, not silently elided.
    js = transform(source, { transforms: ["typescript"], disableESTransforms: true, keepUnusedImports: true }).code;
  } catch (e) {
    const m = /\((\d+):(\d+)\)/.exec((e as Error).message);
    throw new CompileError(`TypeScript: ${(e as Error).message}`, m ? Number(m[1]) : undefined, m ? Number(m[2]) : undefined);
  }
  let ast: AnyNode;
  try {
    ast = parse(js, { ecmaVersion: "latest", sourceType: "module", allowReturnOutsideFunction: true, allowAwaitOutsideFunction: true, locations: true }) as unknown as AnyNode;
  } catch (e) {
    const loc = (e as { loc?: { line: number; column: number } }).loc;
    throw new CompileError(`syntax error: ${(e as Error).message}`, loc?.line, loc ? loc.column + 1 : undefined);
  }
  const edits: Edit[] = [];
  let depth = 0;
  const push = (e: Omit<Edit, "depth">) => edits.push({ ...e, depth });
  const refuse = (node: AnyNode, what: string) => {
    const loc = (node as { loc?: { start: { line: number; column: number } } }).loc;
    throw new CompileError(what, loc?.start.line, loc ? loc.start.column + 1 : undefined);
  };
  const tickBlock = (body: AnyNode) => {
    if (body.type === "BlockStatement") push({ at: body.start + 1, text: TICK, order: 1 });
    else {
      push({ at: body.start, text: `{${TICK}`, order: 1 });
      push({ at: body.end, text: "}", order: 0 });
    }
  };
  const visit = (node: AnyNode) => {
    switch (node.type) {
      case "ImportDeclaration":
      case "ImportExpression":
      case "ExportNamedDeclaration":
      case "ExportDefaultDeclaration":
      case "ExportAllDeclaration":
        refuse(node, "import/export are not available: the program's only capability is `pg`");
        break;
      case "Identifier":
        if (String(node.name).startsWith("__pg")) refuse(node, `the name ${String(node.name)} is reserved`);
        break;
      case "MetaProperty":
        refuse(node, "import.meta / new.target are not available");
        break;
      case "SpreadElement": {
        const arg = node.argument as AnyNode;
        push({ at: arg.start, text: "__pg_spread(", order: 1 });
        push({ at: arg.end, text: ")", order: 0 });
        break;
      }
      case "CatchClause":
        // A catch costs 1000 operations: recursion through catch (f() { try { f() } catch { f() } })
        // is exponential in stack overflows and must exhaust the budget quickly.
        push({ at: (node.body as AnyNode).start + 1, text: "__pg_tick(1000);", order: 1 });
        break;
      case "Literal":
        if ((node as { regex?: { pattern: string } }).regex) {
          const { pattern, flags } = (node as unknown as { regex: { pattern: string; flags: string } }).regex;
          push({ at: node.start, text: `__pg_regex(${JSON.stringify(pattern)}, ${JSON.stringify(flags)})`, order: 2, remove: node.end - node.start });
        }
        break;
      case "TryStatement":
        if (node.finalizer) tickBlock(node.finalizer as AnyNode);
        break;
    }
    if (LOOPS.has(node.type)) tickBlock(node.body as AnyNode);
    if (FUNCTIONS.has(node.type)) {
      const body = node.body as AnyNode;
      if (body.type === "BlockStatement") push({ at: body.start + 1, text: TICK, order: 1 });
      else {
        push({ at: body.start, text: "(__pg_tick(), ", order: 1 });
        push({ at: body.end, text: ")", order: 0 });
      }
    }
    depth++;
    for (const c of children(node)) visit(c);
    depth--;
  };
  visit(ast);
  // Applied from the end so earlier offsets stay valid. At one offset the text must read:
  // inner closers, outer closers, outer openers, inner openers; the last applied lands first.
  edits.sort((a, b) => b.at - a.at || b.order - a.order || (a.order === 1 ? b.depth - a.depth : a.depth - b.depth));
  let out = js;
  for (const e of edits) out = out.slice(0, e.at) + e.text + out.slice(e.at + (e.remove ?? 0));
  return out;
}
