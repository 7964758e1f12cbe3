// The package as a user gets it: `npm pack` in a clean checkout (no dist/) builds and ships dist/ with types and
// source maps that resolve; the tarball installs into a fresh project, where an ESM script runs against a local
// server and `tsc --noEmit` type-checks a TypeScript file with NodeNext and with Bundler resolution.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";

import { factstrExecutable } from "./server.js";

const run = promisify(execFile);
// dist/test/package.test.js -> the package root.
const packageRoot = fileURLToPath(new URL("../../", import.meta.url));
const tsc = join(packageRoot, "node_modules", "typescript", "bin", "tsc");

let scratch: string;
let tarball: string;
let shipped: string[];
let consumer: string;
let typedFiles: string[];

/** npm as the one running this test, or the one on the PATH. */
function npm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  const cli = process.env["npm_execpath"];
  const [command, prefix] = cli !== undefined && cli.endsWith(".js") ? [process.execPath, [cli]] : ["npm", []];
  return run(command, [...prefix, ...args, "--no-audit", "--no-fund"], { cwd, maxBuffer: 16 * 1024 * 1024 });
}

/** The package's files as a fresh clone has them: what git tracks (or would), no build output, no node_modules. */
function cleanCheckout(target: string): void {
  const skip = new Set(["node_modules", "dist"]);
  cpSync(packageRoot, target, {
    recursive: true,
    filter: (source) => {
      const parts = relative(packageRoot, source).split(sep);
      return !parts.some((part) => skip.has(part) || part.endsWith(".tgz") || part.startsWith("scratch"));
    },
  });
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), "factstr-package-"));
  const checkout = join(scratch, "checkout");
  cleanCheckout(checkout);
  assert.equal(existsSync(join(checkout, "dist")), false);
  // The build tools (devDependencies) are what `npm ci` installed; the package's own files are a fresh copy.
  symlinkSync(join(packageRoot, "node_modules"), join(checkout, "node_modules"), "dir");
  const packed = join(scratch, "packed");
  mkdirSync(packed);
  await npm(["pack", "--pack-destination", packed], checkout);
  const [name] = readdirSync(packed);
  assert.ok(name !== undefined && name.endsWith(".tgz"), "npm pack wrote a tarball");
  tarball = join(packed, name);
  const listing = await run("tar", ["-tzf", tarball]);
  shipped = listing.stdout.split("\n").filter((line) => line !== "").map((line) => line.replace(/^package\//, ""));

  consumer = join(scratch, "consumer");
  mkdirSync(consumer);
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  await npm(["install", "--prefer-offline", tarball], consumer);

  // What the type-checks read: a typed user of the package, and the README's examples as a user pastes them.
  writeFileSync(join(consumer, "app.ts"), TYPED_USER);
  const readme = readFileSync(join(packageRoot, "README.md"), "utf8");
  typedFiles = ["app.ts"];
  for (const [index, match] of [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].entries()) {
    writeFileSync(join(consumer, `readme-${index}.ts`), match[1]!);
    typedFiles.push(`readme-${index}.ts`);
  }
  assert.ok(typedFiles.length >= 3, "the README has its examples");
});

after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe("npm pack from a clean checkout", () => {
  test("builds and ships dist/src with declarations and source maps, the sources, README and LICENSE", () => {
    for (const file of ["dist/src/index.js", "dist/src/index.d.ts", "dist/src/index.js.map", "dist/src/index.d.ts.map"]) {
      assert.ok(shipped.includes(file), `${file} is in the tarball`);
    }
    for (const file of ["package.json", "README.md", "LICENSE", "src/index.ts"]) assert.ok(shipped.includes(file), file);
    const strays = shipped.filter((file) => /^(dist\/(test|examples)|test|examples|node_modules|scripts)\//.test(file));
    assert.deepEqual(strays, []);
    const license = readFileSync(join(packageRoot, "..", "..", "LICENSE"), "utf8");
    assert.equal(readFileSync(join(packageRoot, "LICENSE"), "utf8"), license);
  });

  test("every source map names sources that are in the tarball", () => {
    const installed = join(consumer, "node_modules", "@factstr", "client");
    const maps = shipped.filter((file) => file.endsWith(".map"));
    assert.ok(maps.length >= 10);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(installed, map), "utf8")) as { sources: string[] };
      for (const source of sources) {
        const target = relative(installed, join(installed, dirname(map), source)).split(sep).join("/");
        assert.ok(shipped.includes(target), `${map} points to ${source}, which is not shipped`);
      }
    }
  });

  test("package.json has exports with types, engines, repository and files", () => {
    const manifest = JSON.parse(readFileSync(join(consumer, "node_modules", "@factstr", "client", "package.json"), "utf8"));
    assert.deepEqual(manifest.exports["."], { types: "./dist/src/index.d.ts", default: "./dist/src/index.js" });
    assert.equal(manifest.engines.node, ">=20");
    assert.equal(manifest.repository.directory, "clients/typescript");
    assert.equal(manifest.type, "module");
    assert.equal(manifest.dependencies, undefined, "no runtime dependencies");
  });
});

describe("the installed package in a fresh project", { concurrency: true }, () => {
  test("an ESM script starts a local server, appends, iterates a stream, and maps errors to the TypeScript source", async () => {
    writeFileSync(
      join(consumer, "app.mjs"),
      `import { bigintReplacer, InvalidInput, nextSequenceNumber, sequenceNumberToJson, startServer } from "@factstr/client";

const server = await startServer();
try {
  const { client } = server;
  const notes = client.streamTo({ filters: [{ event_types: ["noted"] }] });
  await notes.ready();
  const { last_sequence_number } = await client.append([{ event_type: "noted", payload: { text: "hello" } }]);
  for await (const batch of notes) {
    console.log(JSON.stringify(batch.map(({ sequence_number, payload }) => ({ sequence_number, payload })), bigintReplacer));
    break;
  }
  console.log("next", sequenceNumberToJson(nextSequenceNumber(last_sequence_number)));
  const error = await client.append([{ event_type: "noted", payload: { n: 1n } }]).catch((caught) => caught);
  console.log("invalid", error instanceof InvalidInput);
  console.log("mapped", /src[\\\\/]wire\\.ts:\\d+/.test(error.stack));
} finally {
  await server.stop();
}
`,
    );
    const { stdout } = await run(process.execPath, ["--enable-source-maps", "app.mjs"], {
      cwd: consumer,
      env: { ...process.env, FACTSTR_BIN: factstrExecutable },
    });
    assert.match(stdout, /^\[\{"sequence_number":"1","payload":\{"text":"hello"\}\}\]$/m);
    assert.match(stdout, /^next 2$/m);
    assert.match(stdout, /^invalid true$/m);
    assert.match(stdout, /^mapped true$/m);
  });

  for (const [resolution, module] of [
    ["NodeNext", "NodeNext"],
    ["Bundler", "ESNext"],
  ] as const) {
    test(`tsc --noEmit type-checks a TypeScript user of the package (${resolution} resolution)`, async () => {
      const config = {
        compilerOptions: {
          target: "ES2022",
          module,
          moduleResolution: resolution,
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          // The package's own declarations are checked too, once (it is the slow part: @types/node comes along).
          skipLibCheck: resolution !== "NodeNext",
          types: ["node"],
          typeRoots: [join(packageRoot, "node_modules", "@types")],
        },
        files: typedFiles,
      };
      const file = `tsconfig.${resolution.toLowerCase()}.json`;
      writeFileSync(join(consumer, file), JSON.stringify(config));
      const outcome = await run(process.execPath, [tsc, "-p", file], { cwd: consumer }).catch((error: unknown) => error);
      assert.ok(!(outcome instanceof Error), String((outcome as { stdout?: string }).stdout ?? outcome));
    });
  }
});

/** Typed payloads, typed streams and the helpers as a strict TypeScript user writes them; non-JSON payloads fail. */
const TYPED_USER = `import {
  type BatchIterator,
  ConditionalAppendConflict,
  type EventRecord,
  FactstrClient,
  type NewEvent,
  nextSequenceNumber,
  sequenceNumberFromJson,
  startServer,
} from "@factstr/client";

interface SlotReserved {
  room: string;
  start: string;
  person: string;
  note?: string;
}

export async function typed(client: FactstrClient): Promise<string> {
  const reserved: NewEvent<SlotReserved> = { event_type: "slot-reserved", payload: { room: "Ada", start: "09:00", person: "ada" } };
  const result = await client.append([reserved, { event_type: "other", payload: [1, "two", null] }]);
  const version: bigint = nextSequenceNumber(result.last_sequence_number);
  const { event_records } = await client.query<SlotReserved>({ filters: [{ event_types: ["slot-reserved"] }] });
  const first: EventRecord<SlotReserved> | undefined = event_records[0];
  const room: string = first?.payload.room ?? "none";
  const batches: BatchIterator<SlotReserved> = client.streamToDurable<SlotReserved>("board", {});
  for await (const batch of batches) {
    const person: string = batch[0]?.payload.person ?? "";
    if (person !== "") break;
  }
  const stream = await client.streamTo({}, (batch: readonly EventRecord<SlotReserved>[]) => {
    void batch[0]?.payload.start;
  });
  await stream.unsubscribe();
  try {
    await client.appendIf([reserved], {}, sequenceNumberFromJson("41"));
  } catch (error) {
    if (error instanceof ConditionalAppendConflict) return String(error.actual);
  }
  return room + String(version);
}

export async function refused(client: FactstrClient): Promise<void> {
  // @ts-expect-error a Date is not JSON
  await client.append([{ event_type: "x", payload: { when: new Date() } }]);
  // @ts-expect-error a bigint is not JSON
  await client.append([{ event_type: "x", payload: { n: 5n } }]);
  // @ts-expect-error a Map is not JSON
  await client.append([{ event_type: "x", payload: [new Map()] }]);
  // @ts-expect-error a sequence number is a bigint, not a number to add to
  const next: number = (await client.head()) + 1;
  void next;
}

const server = await startServer({ store: "memory://", args: ["--heartbeat-seconds", "1"] });
await typed(server.client);
await server.stop();
`;
