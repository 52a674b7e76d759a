import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The Workers and PostgreSQL are shared; 2 cores.
    maxWorkers: 2,
    projects: [
      // Pure functions and generated files: no database, no Worker (npm run test:unit).
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      // Against the real stack the global setup starts: PostgreSQL, PGlite, the Workers.
      { extends: true, test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], globalSetup: ["test/support/global-setup.ts"] } },
    ],
  },
});
