// startServer: a `factstr serve` child process for development and tests, found, started, checked and stopped.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { ServerStartError, startServer, Unauthorized } from "@factstr/client";
import { factstrExecutable, sleep } from "./server.js";

let scratch: string;

before(() => {
  scratch = mkdtempSync(join(tmpdir(), "factstr-local-"));
});
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** Run `body` with these environment variables set (undefined: removed), then put them back. */
async function withEnvironment<T>(changes: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(changes).map((key) => [key, process.env[key]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(changes);
  try {
    return await body();
  } finally {
    apply(saved);
  }
}

/** Whether a process runs (a zombie waiting for a parent that is gone counts as ended). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = `/proc/${pid}/stat`;
  return !(existsSync(stat) && /^\d+ \(.*\) Z/.test(readFileSync(stat, "utf8")));
}

async function ended(pid: number, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

describe("startServer", () => {
  test("starts factstr serve on a port of its own with an empty store, and stop() ends it", async () => {
    const [one, two] = await Promise.all([
      startServer({ executable: factstrExecutable }),
      startServer({ executable: factstrExecutable }),
    ]);
    try {
      assert.match(one.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(one.port, two.port);
      assert.equal(one.url, `http://127.0.0.1:${one.port}`);
      assert.equal(await one.client.head(), null);
      await one.client.append([{ event_type: "noted", payload: {} }]);
      assert.equal(await one.client.head(), 1n);
      assert.equal(await two.client.head(), null, "each server has its own memory store");
      assert.ok(one.running && alive(one.pid));
      assert.match(one.output, /running on/);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
    assert.equal(one.running, false);
    assert.ok(await ended(one.pid));
    await one.stop(); // idempotent
  });

  test("finds factstr through FACTSTR_BIN, else on the PATH", async () => {
    const fromEnvironment = await withEnvironment({ FACTSTR_BIN: factstrExecutable }, () => startServer());
    await fromEnvironment.stop();
    const directory = mkdtempSync(join(scratch, "bin-"));
    symlinkSync(factstrExecutable, join(directory, "factstr"));
    const fromPath = await withEnvironment({ FACTSTR_BIN: undefined, PATH: directory }, () => startServer());
    assert.equal(await fromPath.client.head(), null);
    await fromPath.stop();
  });

  test("without a factstr executable, the error says how to install one", async () => {
    const empty = mkdtempSync(join(scratch, "empty-"));
    const error = await withEnvironment({ FACTSTR_BIN: undefined, PATH: empty }, () =>
      startServer().catch((caught: unknown) => caught),
    );
    assert.ok(error instanceof ServerStartError);
    assert.match(error.message, /pip install 'factstr\[server\]'/);
    assert.match(error.message, /FACTSTR_BIN/);
    const missing = await startServer({ executable: join(empty, "factstr") }).catch((caught: unknown) => caught);
    assert.ok(missing instanceof ServerStartError);
    assert.match(missing.message, /ENOENT.*pip install 'factstr\[server\]'/s);
  });

  test("a server that cannot start rejects with what it said", async () => {
    const error = await startServer({ executable: factstrExecutable, store: "nosuch://store" }).catch(
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof ServerStartError);
    assert.match(error.message, /exited with status \d+ before it was ready/);
    assert.match(error.message, /nosuch/);
  });

  test("with a token the server requires it and the returned clients send it; FACTSTR_TOKEN does not leak in", async () => {
    const guarded = await startServer({ executable: factstrExecutable, token: "s3cret" });
    try {
      assert.equal(await guarded.client.head(), null);
      await assert.rejects(guarded.connect({ token: "wrong" }).head(), Unauthorized);
    } finally {
      await guarded.stop();
    }
    const open = await withEnvironment({ FACTSTR_TOKEN: "from-the-environment" }, () =>
      startServer({ executable: factstrExecutable }),
    );
    try {
      assert.equal(await open.connect({ token: "" }).head(), null);
    } finally {
      await open.stop();
    }
  });

  test("a relative sqlite:/// path lands in cwd, and a second server opens the same store", async () => {
    const directory = mkdtempSync(join(scratch, "sqlite-"));
    const options = { executable: factstrExecutable, store: "sqlite:///app.db", cwd: directory };
    const first = await startServer(options);
    await first.client.append([{ event_type: "noted", payload: { n: 1 } }]);
    await first.stop();
    assert.ok(existsSync(join(directory, "app.db")));
    const second = await startServer(options);
    assert.equal(await second.client.head(), 1n);
    await second.stop();
  });
});

describe("the server is stopped with the Node process that started it", { concurrency: true }, () => {
  const index = new URL("../src/index.js", import.meta.url).href;
  const endings: Record<string, string> = {
    "the end of the program (no stop() call)": "",
    "process.exit()": "process.exit(0);",
    "an uncaught exception": "throw new Error('boom');",
    SIGINT: "setInterval(() => undefined, 1000);",
    SIGTERM: "setInterval(() => undefined, 1000);",
  };
  for (const [ending, tail] of Object.entries(endings)) {
    test(ending, { timeout: 60_000 }, async () => {
      const script = `import { startServer } from ${JSON.stringify(index)};
const server = await startServer({ executable: ${JSON.stringify(factstrExecutable)} });
console.log(server.pid);
${tail}`;
      const child: ChildProcess = spawn(process.execPath, ["--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
      let stdout = "";
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      while (!/^\d+$/m.test(stdout) && child.exitCode === null) await sleep(20);
      const pid = Number(/^(\d+)$/m.exec(stdout)?.[1]);
      assert.ok(pid > 0, `the script printed the server's pid: ${stdout}`);
      if (ending.startsWith("SIG")) child.kill(ending as NodeJS.Signals);
      const [code, signal] = await exited;
      if (ending.startsWith("SIG")) assert.equal(signal, ending, "the signal still ends the process");
      else assert.equal(code, ending.includes("exception") ? 1 : 0);
      assert.ok(await ended(pid), `factstr serve (pid ${pid}) still runs after the Node process ended`);
    });
  }
});
