"""The facade inside a Starlette app: handlers await the store while the loop serves other requests."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from factstr import ConditionalAppendConflict, EventFilter, EventQuery, MemoryStore, NewEvent
from factstr.aio import AsyncEventStore


def make_app(astore: AsyncEventStore) -> Starlette:
    def notes_of(topic: str) -> EventQuery:
        return EventQuery(filters=[EventFilter(event_types=["Noted"], payload_predicates=[{"topic": topic}])])

    async def add_note(request: Request) -> JSONResponse:
        topic = request.path_params["topic"]
        body = await request.json()
        try:
            result = await astore.append_if(
                [NewEvent("Noted", {"topic": topic, "text": body["text"]})], notes_of(topic), body["expected"]
            )
        except ConditionalAppendConflict as conflict:
            return JSONResponse({"actual": conflict.actual}, status_code=409)
        return JSONResponse({"version": result.last_sequence_number}, status_code=201)

    async def list_notes(request: Request) -> JSONResponse:
        result = await astore.query(notes_of(request.path_params["topic"]))
        texts = [record.payload["text"] for record in result.event_records]
        return JSONResponse({"notes": texts, "version": result.current_context_version})

    return Starlette(
        routes=[
            Route("/topics/{topic}/notes", add_note, methods=["POST"]),
            Route("/topics/{topic}/notes", list_notes, methods=["GET"]),
        ]
    )


def test_a_starlette_app_appends_and_reads_through_the_facade() -> None:
    async def main() -> None:
        async with AsyncEventStore(MemoryStore()) as astore:
            transport = httpx.ASGITransport(app=make_app(astore))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                created = await client.post("/topics/a/notes", json={"text": "hello", "expected": None})
                assert created.status_code == 201
                stale = await client.post("/topics/a/notes", json={"text": "again", "expected": None})
                assert (stale.status_code, stale.json()) == (409, {"actual": 1})
                listed = await client.get("/topics/a/notes")
                assert listed.json() == {"notes": ["hello"], "version": 1}

    asyncio.run(main())
