// unsubscribe() of a durable stream resolves only once the server stored the last acknowledged batch:
// registering the name again never hands a handled batch to the handler twice (issue 11, item 12).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { type EventRecord, FactstrClient } from "@factstr/client";
import { TestServer, unique } from "./server.js";

const ROUNDS = 25;

for (const store of ["memory", "sqlite"] as const) {
  describe(`durable unsubscribe on ${store}`, () => {
    let server: TestServer;
    let client: FactstrClient;

    before(async () => {
      server = await TestServer.start({ store });
      client = new FactstrClient({ baseUrl: server.url, timeoutMs: 10_000 });
    });
    after(async () => {
      await server.close();
    });

    test(`${ROUNDS} rounds of append, handle, unsubscribe, register again: no batch is delivered twice`, async () => {
      const type = unique("round");
      const name = unique("rounds");
      const query = { filters: [{ event_types: [type] }] };
      const delivered: bigint[] = [];
      const appended: bigint[] = [];
      const register = () =>
        client.streamToDurable(name, query, (batch: readonly EventRecord[]) => {
          for (const record of batch) delivered.push(record.sequence_number);
        });
      for (let round = 0; round < ROUNDS; round += 1) {
        // Several batches, so that more of them are on their way while the stream is being closed.
        const first = await client.append([{ event_type: type, payload: { round } }]);
        appended.push(first.last_sequence_number);
        for (let more = 0; more < 3; more += 1) {
          appended.push((await client.append([{ event_type: type, payload: { round, more } }])).last_sequence_number);
        }
        const stream = await register();
        assert.equal(await stream.waitUntil(first.last_sequence_number, { timeoutMs: 10_000 }), true);
        await stream.unsubscribe();
        const info = await client.durableStream(name);
        assert.equal(info?.cursor, stream.position, `round ${round}: the stored cursor is what was handled`);
        assert.equal(info?.active, false);
      }
      const last = await register();
      assert.equal(await last.waitUntil(appended.at(-1)!, { timeoutMs: 10_000 }), true);
      await last.unsubscribe();
      assert.deepEqual(delivered, appended, server.log);
      // An unsubscribe is not an error: the server logs no warning (and no ClientGone traceback) for it.
      assert.doesNotMatch(server.log, /ClientGone|"level": "(warning|error)"/);
    });
  });
}
