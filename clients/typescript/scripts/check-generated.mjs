// Fails when src/generated/openapi.ts is not what openapi-typescript makes of ../../openapi.json today:
// the client's types would then describe an API the server no longer has. Fix with `npm run generate`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const checkedIn = join(root, "src", "generated", "openapi.ts");
const scratch = mkdtempSync(join(tmpdir(), "factstr-openapi-"));
try {
  const fresh = join(scratch, "openapi.ts");
  const cli = join(root, "node_modules", "openapi-typescript", "bin", "cli.js");
  execFileSync(process.execPath, [cli, join(root, "..", "..", "openapi.json"), "--output", fresh], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (readFileSync(fresh, "utf8") !== readFileSync(checkedIn, "utf8")) {
    console.error("src/generated/openapi.ts is out of date with openapi.json: run `npm run generate` and commit it.");
    process.exit(1);
  }
  console.log("src/generated/openapi.ts matches openapi.json");
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
