// Fails when src/api/generated/schema.ts is stale against the backend's OpenAPI schema.
// The schema path comes from $PADDOCK_SCHEMA (default ../.paddock/openapi.yaml), as for gen:api.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const schema = process.env.PADDOCK_SCHEMA || "../.paddock/openapi.yaml";
const committed = join(root, "src/api/generated/schema.ts");
const cli = join(root, "node_modules/openapi-typescript/bin/cli.js");

if (!existsSync(resolve(root, schema))) {
  console.error(`check:api: OpenAPI schema not found at ${schema} (set PADDOCK_SCHEMA or run manage.py spectacular).`);
  process.exit(1);
}
if (!existsSync(committed)) {
  console.error("check:api: src/api/generated/schema.ts is missing; run `npm run gen:api`.");
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "paddock-api-"));
try {
  const fresh = join(dir, "schema.ts");
  execFileSync(process.execPath, [cli, schema, "-o", fresh], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  if (readFileSync(fresh, "utf8") !== readFileSync(committed, "utf8")) {
    console.error(
      "check:api: src/api/generated/schema.ts is stale: it differs from the types generated from " +
        `${schema}. Run \`npm run gen:api\` and commit the result.`,
    );
    process.exit(1);
  }
  console.log("check:api: src/api/generated/schema.ts is up to date.");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
