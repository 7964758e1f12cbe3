// The README's ten-line example runs as written (with the test server's URL) and prints what it promises.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, test } from "node:test";

import { TestServer } from "./server.js";

let server: TestServer;

before(async () => {
  server = await TestServer.start();
});
after(async () => {
  await server.close();
});

test("the README example runs, and a second run hits ConditionalAppendConflict", async () => {
  const readme = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block !== undefined, "README.md has a ```ts block");
  // The example has no type annotations, so it runs as JavaScript exactly as written.
  const source = block.replace("http://127.0.0.1:7117", server.url);
  // Inside the package, so that "@factstr/client" resolves to this package, as it would for a user.
  const script = fileURLToPath(new URL(`../readme-example-${process.pid}.mjs`, import.meta.url));
  writeFileSync(script, source);
  try {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [script]);
    assert.match(stdout, /^1n \[ 'account-opened' \]$/m);
    const second = await run(process.execPath, [script]).catch((error: unknown) => error);
    assert.match(String((second as { stderr?: string }).stderr), /ConditionalAppendConflict/);
  } finally {
    rmSync(script, { force: true });
  }
});
