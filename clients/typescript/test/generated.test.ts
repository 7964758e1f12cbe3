// The checked-in OpenAPI types must be what openapi-typescript makes of the repository's openapi.json today.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { test } from "node:test";

const script = fileURLToPath(new URL("../../scripts/check-generated.mjs", import.meta.url));

test("src/generated/openapi.ts is up to date with openapi.json", async () => {
  const run = promisify(execFile);
  const outcome = await run(process.execPath, [script]).catch((error: unknown) => error);
  assert.ok(!(outcome instanceof Error), `run \`npm run generate\`: ${String(outcome)}`);
});
