// B10 from Node: one operation of the network path through the TypeScript client (@factstr/client), timed
// per request. Run by bench/network.py as `node bench/node_client.mjs '<json job>'`; prints one JSON line.
//
// job: { client: path of clients/typescript/dist/src/index.js, url, op: "append" | "decide" | "head",
//        duration: seconds, warmUp: seconds, accounts: [numbers], types: [context types], decided: type,
//        writer: number }
// Every answer is checked (numbers, context contents, no conflict with one writer); a wrong answer exits 1.

import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

const job = JSON.parse(process.argv[2]);
const { FactstrClient } = await import(pathToFileURL(job.client).href);
const client = new FactstrClient({ baseUrl: job.url });
const NOTE = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt";

function fail(message) {
  process.stderr.write(`node client: ${message}\n`);
  process.exit(1);
}

const pad = (value, width) => String(value).padStart(width, "0");
const accountKey = (account) => `acct-${pad(account, 8)}`;

let appended = 0;
let decided = 0;
let expectedNext = null;

async function append() {
  const index = appended++;
  const result = await client.append([
    {
      event_type: "LatencyProbe",
      payload: { sent_at: Date.now() / 1000, index, reference: `probe-${pad(index, 8)}`, note: NOTE },
    },
  ]);
  if (expectedNext !== null && result.first_sequence_number !== expectedNext) {
    fail(`append got ${result.first_sequence_number}, expected ${expectedNext} (no other writer runs)`);
  }
  if (result.committed_count !== 1 || result.last_sequence_number !== result.first_sequence_number) {
    fail(`append of one event returned ${JSON.stringify(result, (_, v) => (typeof v === "bigint" ? String(v) : v))}`);
  }
  expectedNext = result.last_sequence_number + 1n;
}

async function decide() {
  const account = job.accounts[decided % job.accounts.length];
  decided++;
  const key = accountKey(account);
  const query = { filters: [{ event_types: job.types, payload_predicates: [{ account: key }] }] };
  const result = await client.query(query);
  const records = result.event_records;
  if (records.length < 8 || records.some((record) => record.payload.account !== key)) {
    fail(`context of ${key} returned ${records.length} records, expected >= 8 all of that account`);
  }
  if (result.current_context_version !== records[records.length - 1].sequence_number) {
    fail(`context of ${key}: current_context_version is not its last record`);
  }
  const event = {
    event_type: job.decided,
    payload: {
      account: key,
      writer: job.writer,
      seen: records.length,
      decision: "approve",
      reference: `dec-${pad(account, 8)}-${pad(job.writer, 3)}`,
      note: NOTE,
    },
  };
  try {
    await client.appendIf([event], query, result.current_context_version);
  } catch (error) {
    fail(`append_if on ${key} failed with one writer: ${error}`);
  }
}

async function head() {
  const value = await client.head();
  if (typeof value !== "bigint" || value < 1n) fail(`head() returned ${value}`);
}

const operations = { append, decide, head };
const operation = operations[job.op];
if (operation === undefined) fail(`unknown op ${job.op}`);

const warmUntil = performance.now() + job.warmUp * 1000;
while (performance.now() < warmUntil) await operation();

const latencies = [];
const started = performance.now();
const deadline = started + job.duration * 1000;
for (;;) {
  const before = performance.now();
  await operation();
  const after = performance.now();
  latencies.push(after - before);
  if (after >= deadline && latencies.length >= 5) break;
}
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ latencies_ms: latencies, seconds: elapsed })}\n`);
