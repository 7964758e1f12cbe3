// The README's examples run as written, each against the local server it starts, and print what they promise.
// (test/package.test.ts type-checks them against the packed package.)
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, test } from "node:test";

import ts from "typescript";

import { factstrExecutable } from "./server.js";

const run = promisify(execFile);
const readme = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");
/** The README's ```ts blocks, in order. */
const readmeBlocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);

let workDirectory: string;
before(() => {
  workDirectory = mkdtempSync(join(tmpdir(), "factstr-readme-"));
});
after(() => {
  rmSync(workDirectory, { recursive: true, force: true });
});

/** Run a README block as a script of this package (so that "@factstr/client" resolves to it), in `cwd`. */
async function runBlock(source: string, cwd: string): Promise<{ stdout: string; stderr: string }> {
  const javascript = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const script = fileURLToPath(new URL(`../readme-example-${process.pid}-${Math.random()}.mjs`, import.meta.url));
  writeFileSync(script, javascript);
  try {
    return await run(process.execPath, [script], { cwd, env: { ...process.env, FACTSTR_BIN: factstrExecutable } });
  } finally {
    rmSync(script, { force: true });
  }
}

test("the README starts with the install and a ten-line example", () => {
  const lines = readme.split("\n");
  assert.equal(lines[0], "# @factstr/client");
  assert.match(lines.slice(2, 7).join("\n"), /^```console\n.*pip install 'factstr\[server\]'.*\n.*npm pack.*\n.*npm install .*\.tgz/);
  const first = readmeBlocks[0]!;
  assert.ok(readme.indexOf(first) < 800, "the example comes right after the install");
  assert.ok(first.trim().split("\n").length <= 12);
});

test("the ten-line example runs, and a second run hits ConditionalAppendConflict", async () => {
  const cwd = mkdtempSync(join(workDirectory, "ten-lines-"));
  const { stdout } = await runBlock(readmeBlocks[0]!, cwd);
  assert.match(stdout, /^1n \[ 'account-opened' \]$/m);
  assert.match(stdout, /^1$/m);
  const second = await runBlock(readmeBlocks[0]!, cwd).catch((error: unknown) => error);
  assert.match(String((second as { stderr?: string }).stderr), /ConditionalAppendConflict/);
});

test("the typed example runs", async () => {
  const { stdout } = await runBlock(readmeBlocks[1]!, workDirectory);
  assert.equal(stdout, "100 2\n");
});
