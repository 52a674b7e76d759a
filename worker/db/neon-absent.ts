/**
 * `#neon-driver` in a bundle built without the Neon driver (DB_DRIVER is not
 * "neon"): the wrangler config maps the specifier here. config.ts refuses
 * DB_DRIVER=neon on such a bundle with a ConfigError that names the fix.
 */
import type { Client } from "@neondatabase/serverless";

export const NeonClient: typeof Client | undefined = undefined;
