/**
 * The Neon serverless driver, as `#neon-driver` resolves by default
 * (package.json "imports"). A deployment built for Hyperdrive maps
 * `#neon-driver` to neon-absent.ts instead (a wrangler `alias`), so its
 * bundle does not carry the driver.
 */
import { Client } from "@neondatabase/serverless";

export const NeonClient: typeof Client | undefined = Client;
