/**
 * The one place where names become SQL. Every tool that takes a schema, table,
 * column or index name parses it here and renders it quoted; values never
 * go through here (they are bind parameters).
 */
import { z } from "zod";

/** PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes. */
export const MAX_IDENTIFIER_BYTES = 63;

export class IdentifierError extends Error {
  override readonly name = "IdentifierError";
}

export interface QualifiedName {
  schema?: string;
  name: string;
}

const encoder = new TextEncoder();

function validatePart(part: string, original: string): string {
  if (part.length === 0) throw new IdentifierError(`empty name in "${original}"`);
  if (part.includes("\0")) throw new IdentifierError(`name contains a NUL character: "${original}"`);
  if (encoder.encode(part).length > MAX_IDENTIFIER_BYTES) throw new IdentifierError(`name longer than ${MAX_IDENTIFIER_BYTES} bytes: "${part.slice(0, 80)}"`);
  return part;
}

/**
 * Splits `schema.name` into its parts. Names are exact, as the catalog lists
 * them (no case folding, so `Orders` means the table "Orders"); a part that
 * contains a dot is written in double quotes, with `""` for a quote.
 * Accepts 1 to `maxParts` parts.
 */
export function parseName(input: string, maxParts = 2): string[] {
  const parts: string[] = [];
  let i = 0;
  const s = input.trim();
  if (s.length === 0) throw new IdentifierError("a name is required");
  while (i <= s.length) {
    let part: string;
    if (s[i] === '"') {
      let j = i + 1;
      part = "";
      for (;;) {
        if (j >= s.length) throw new IdentifierError(`unterminated quoted name: ${input}`);
        if (s[j] === '"') {
          if (s[j + 1] === '"') {
            part += '"';
            j += 2;
            continue;
          }
          j++;
          break;
        }
        part += s[j];
        j++;
      }
      i = j;
    } else {
      const m = /^[^."]*/.exec(s.slice(i))!;
      part = m[0];
      if (part.trim() !== part) throw new IdentifierError(`invalid name "${input}": leading or trailing space in a part (quote it if it is real)`);
      i += m[0].length;
    }
    parts.push(validatePart(part, input));
    if (i === s.length) break;
    if (s[i] !== ".") throw new IdentifierError(`invalid name "${input}": unexpected "${s[i]}"`);
    i++;
  }
  if (parts.length > maxParts) throw new IdentifierError(`"${input}" has ${parts.length} parts; at most ${maxParts} allowed`);
  return parts;
}

/** Parses `[schema.]name`. */
export function parseQualifiedName(input: string): QualifiedName {
  const parts = parseName(input, 2);
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { name: parts[0]! };
}

/** Quotes one identifier (always, so reserved words and mixed case are safe). */
export function quoteIdent(name: string): string {
  validatePart(name, name);
  return `"${name.replaceAll('"', '""')}"`;
}

/** Renders a parsed name as quoted SQL: "schema"."name" or "name". */
export function quoteQualified(q: QualifiedName): string {
  return q.schema === undefined ? quoteIdent(q.name) : `${quoteIdent(q.schema)}.${quoteIdent(q.name)}`;
}

/** Parses user input and renders it quoted in one step. */
export function sqlName(input: string): string {
  return quoteQualified(parseQualifiedName(input));
}

/** zod schema for a `[schema.]name` argument; validation errors name the problem. */
export const qualifiedNameSchema = z.string().min(1).max(300).superRefine((v, ctx) => {
  try {
    parseQualifiedName(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
  }
});

/** zod schema for a plain (one-part) identifier argument. */
export const identifierSchema = z.string().min(1).max(200).superRefine((v, ctx) => {
  try {
    parseName(v, 1);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
  }
});
