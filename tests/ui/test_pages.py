"""The web inspector driven in a real headless chromium against a real ``factstr serve`` on SQLite.

Each test works one page the way an operator would and leaves a screenshot in build/ui-screenshots/.
"""

from __future__ import annotations

import json

from factstr import EventFilter, EventQuery, NewEvent

from .conftest import Inspector, answer_token, open_page, screenshot
from .webdriver import Session


def _first_numbers(browser: Session, css: str = "#browse-list .fact") -> list[int]:
    numbers: list[int] = browser.run(
        "return [...document.querySelectorAll(arguments[0])].map((li) => Number(li.dataset.sequenceNumber))", css
    )
    return numbers


def _append_batches(inspector: Inspector, batches: int, size: int) -> None:
    for batch in range(batches):
        inspector.client.append(
            [
                NewEvent(
                    "deposited" if i % 2 == 0 else "withdrawn", {"account": f"a-{batch % 3}", "n": batch * size + i}
                )
                for i in range(size)
            ]
        )


def test_the_page_asks_for_the_token_once_and_never_puts_it_in_the_url(browser: Session, inspector: Inspector) -> None:
    browser.open(inspector.page("#/overview"))
    browser.wait_for_element("#token-input").type("wrong-token")
    browser.find("dialog [data-button='ok']").click()
    browser.wait_for_text("dialog", "The server refused that token")
    answer_token(browser, inspector.token or "")
    browser.wait_for_text("#card-store", "sqlite")

    browser.find("nav a[data-page='browse']").click()
    browser.wait_for_text("#browse-status", "empty")
    browser.open(inspector.page("#/cursors"))  # a reload of the tab: the token is still known
    browser.wait_for_text("#cursors-status", "durable streams")
    assert not browser.run("return document.querySelector('dialog') !== null")
    assert inspector.token is not None and inspector.token not in browser.url
    assert browser.run("return sessionStorage.getItem('factstr.token')") == inspector.token


def test_overview_shows_the_head_the_store_counts_per_type_and_the_append_rate(
    browser: Session, inspector: Inspector
) -> None:
    _append_batches(inspector, batches=4, size=3)  # 8 deposited, 4 withdrawn
    inspector.client.append([NewEvent("opened", {"account": "a-9"})])
    open_page(browser, inspector, "#/overview")
    browser.wait_for_text("#card-head", "#13")
    browser.wait_for_text("#card-counted", "counts are current")
    counts = browser.run(
        "return Object.fromEntries([...document.querySelectorAll('table.types tbody tr')]"
        ".map((tr) => [tr.dataset.eventType, tr.querySelector('.type-count').textContent]))"
    )
    assert counts == {"deposited": "8", "withdrawn": "4", "opened": "1"}
    assert "sqlite" in browser.find("#card-store").text
    assert "factstr" in browser.find("#card-version").text
    charted = browser.run(
        "return [...document.querySelectorAll('.rate-chart .bar')].reduce((s, bar) => s + Number(bar.dataset.facts), 0)"
    )
    assert charted == 13

    inspector.client.append([NewEvent("opened", {"account": "a-10"}), NewEvent("closed", {"account": "a-10"})])
    browser.wait_for_text("table.types", "closed")  # the counts follow the log without a reload
    browser.wait_for_text("tr[data-event-type='opened'] .type-count", "2")
    screenshot(browser, "overview")


def test_browse_pages_newest_first_in_both_directions_and_jumps_to_a_number(
    browser: Session, inspector: Inspector
) -> None:
    _append_batches(inspector, batches=40, size=3)  # facts 1..120, batches starting at 1, 4, 7, ...
    open_page(browser, inspector, "#/browse")
    browser.wait_for_text("#browse-status", "#120 to #71")
    numbers = _first_numbers(browser)
    assert numbers == list(range(120, 70, -1))
    labels = [label.text for label in browser.find_all("#browse-list .batch-label")]
    assert labels[0].startswith("batch from #118")
    assert labels[-1].startswith("batch from #70")  # 70 and 71 shown; the batch began at 70
    assert browser.find("#browse-list .fact-type").text == "deposited"

    browser.find("#older").click()
    browser.wait_for_text("#browse-status", "#70 to #21")
    browser.find("#older").click()
    browser.wait_for_text("#browse-status", "#20 to #1")
    assert browser.find("#older").property("disabled") is True
    browser.find("#newer").click()
    browser.wait_for_text("#browse-status", "#70 to #21")
    browser.find("#newer").click()
    browser.wait_for_text("#browse-status", "#120 to #71")
    assert browser.find("#newer").property("disabled") is True

    field = browser.find("#jump-number")
    field.type("5")
    browser.find("#jump-form button").click()
    browser.wait_for_text("#browse-status", "#5 to #1")
    highlighted = browser.find("#browse-list .fact-highlight")
    assert highlighted.find(".fact-number").text == "#5"
    # Payloads are collapsible trees: a short one starts folded on one line and opens on a click.
    tree = highlighted.find("details.json-node")
    assert tree.property("open") is False
    assert json.loads(tree.find(".json-preview").text) == {"account": "a-1", "n": 4}
    tree.find("summary").click()
    assert tree.property("open") is True
    assert highlighted.find(".json-key").text == '"account"'
    screenshot(browser, "browse")


def test_query_with_a_predicate_shows_the_matches_the_context_version_and_the_copies(
    browser: Session, inspector: Inspector
) -> None:
    _append_batches(inspector, batches=9, size=2)
    context = EventQuery(filters=[EventFilter(event_types=["deposited"], payload_predicates=[{"account": "a-1"}])])
    expected = inspector.client.query(context)
    assert len(expected.event_records) == 3

    open_page(browser, inspector, "#/query")
    browser.wait_for_element("#filters .filter-types").type("deposited")
    browser.find("#filters .filter-predicates").type('[{"account": "a-1"}]')
    browser.find("#run-query").click()
    browser.wait_for_text("#query-summary", "3 facts")
    assert browser.find("#context-version").text == str(expected.current_context_version)
    shown = _first_numbers(browser, "#query-results .fact")
    assert shown == [record.sequence_number for record in reversed(expected.event_records)]

    assert json.loads(browser.find("#query-code").text) == {
        "filters": [{"event_types": ["deposited"], "payload_predicates": [{"account": "a-1"}]}],
        "limit": 100,
        "backwards": True,
    }
    browser.find(".tabs [data-format='Python']").click()
    python = browser.find("#query-code").text
    assert 'EventFilter(event_types=["deposited"], payload_predicates=[{"account": "a-1"}])' in python
    namespace: dict[str, object] = {}
    exec(python, namespace)  # the copied text is a working Python query
    assert namespace["query"] == EventQuery(filters=context.filters, limit=100, backwards=True), (
        "the Python text builds the query that ran"
    )
    browser.find(".tabs [data-format='TypeScript']").click()
    typescript = browser.find("#query-code").text
    assert (
        'filters: [\n    { event_types: ["deposited"], payload_predicates: [{ account: "a-1" }] },\n  ]' in typescript
    )
    assert typescript.startswith('import type { EventQuery } from "@factstr/client";')
    browser.find("#query-copy").click()
    browser.wait_for_text("#query-copied", "copied")
    screenshot(browser, "query")

    # The store's own validation answers, as the API sends them (422), under the editor.
    predicates = browser.find("#filters .filter-predicates")
    predicates.clear()
    predicates.type('{"account": "a-1"}')
    browser.find("#run-query").click()
    problem = browser.wait_for_text("#query-problem", "422 invalid_input")
    assert "payload_predicates" in problem.text
    predicates.clear()
    predicates.type('[{"account": "a-1"')
    browser.wait_for_text("#filters .filter-check", "Not JSON yet")


def test_live_tail_shows_new_batches_and_pause_and_resume_lose_none(browser: Session, inspector: Inspector) -> None:
    _append_batches(inspector, batches=2, size=1)
    open_page(browser, inspector, "#/live")
    browser.wait_for_text("#live-status", "committed after #2")
    inspector.client.append([NewEvent("opened", {"account": "b-1"}), NewEvent("deposited", {"account": "b-1"})])
    label = browser.wait_for_element("#live-batches .batch .batch-label")
    assert label.text.startswith("batch #3\u2013#4 · 2 facts")  # an en dash between the numbers

    browser.find("#live-pause").click()
    browser.wait_for_text("#live-status", "Paused after #4")
    for n in range(3):
        inspector.client.append([NewEvent("deposited", {"account": "b-1", "n": n})])
    browser.wait_for_text("#live-status", "the head is #7")
    assert len(browser.find_all("#live-batches .batch")) == 1

    browser.find("#live-pause").click()
    browser.wait_for(
        lambda: len(browser.find_all("#live-batches .batch")) == 4, "the batches committed during the pause"
    )
    inspector.client.append([NewEvent("closed", {"account": "b-1"})])
    browser.wait_for(lambda: len(browser.find_all("#live-batches .batch")) == 5, "a batch committed after resuming")
    firsts = browser.run(
        "return [...document.querySelectorAll('#live-batches .batch')].map((b) => Number(b.dataset.first))"
    )
    assert firsts == [8, 7, 6, 5, 3]  # newest on top; each batch once
    assert browser.find("#live-counts").text.startswith("5 batches · 6 facts")
    screenshot(browser, "live")


def test_cursors_show_lag_live_and_reset_and_delete_after_confirmation(browser: Session, inspector: Inspector) -> None:
    client = inspector.client
    _append_batches(inspector, batches=3, size=2)
    with client.stream_to_durable("projector", EventQuery(), lambda batch: None) as stream:
        assert stream.wait_until(6, timeout=10)
    held = client.stream_to_durable("mailer", EventQuery(filters=[EventFilter(event_types=["opened"])]), lambda b: None)
    try:
        open_page(browser, inspector, "#/cursors")
        row = "tr[data-name='projector']"
        browser.wait_for_text(f"{row} .lag", "0")
        assert browser.find(f"{row} .cursor").text == "#6"
        assert browser.find(f"{row} .active").text == "idle"
        assert browser.find("tr[data-name='mailer'] .active").text == "held"
        assert browser.find("tr[data-name='mailer'] .query").text == '{"filters":[{"event_types":["opened"]}]}'
        assert browser.find("tr[data-name='mailer'] button.reset").property("disabled") is True

        _append_batches(inspector, batches=2, size=2)
        browser.wait_for_text(f"{row} .lag", "4")  # without a reload
        assert browser.find(f"{row} .head").text == "#10"

        browser.find(f"{row} button.reset").click()
        browser.wait_for_element("#reset-position")
        browser.find("dialog [data-button='cancel']").click()
        browser.wait_for(
            lambda: not browser.run("return document.querySelector('dialog') !== null"), "the dialog to close"
        )
        info = client.durable_stream("projector")
        assert info is not None and info.cursor == 6, "cancelling changes nothing"

        browser.find(f"{row} button.reset").click()
        position = browser.wait_for_element("#reset-position")
        position.clear()
        position.type("2")
        screenshot(browser, "cursors-reset")
        browser.find("dialog [data-button='reset']").click()
        browser.wait_for_text(f"{row} .cursor", "#2")
        browser.wait_for_text(f"{row} .lag", "8")
        info = client.durable_stream("projector")
        assert info is not None and info.cursor == 2
        screenshot(browser, "cursors")

        browser.find(f"{row} button.delete").click()
        browser.wait_for_text("dialog", "Delete the cursor")
        browser.find("dialog [data-button='delete']").click()
        browser.wait_for(lambda: not browser.find_all(row), "the deleted cursor's row to go")
        assert client.durable_stream("projector") is None
    finally:
        held.unsubscribe()


def test_a_read_only_inspector_offers_no_cursor_changes(browser: Session, read_only_inspector: Inspector) -> None:
    with read_only_inspector.client.stream_to_durable("projector", EventQuery(), lambda batch: None):
        pass
    open_page(browser, read_only_inspector, "#/cursors")
    browser.wait_for_text("tr[data-name='projector'] .active", "idle")
    assert browser.find("#mode").text == "read-only"
    assert "--ui-admin" in browser.find("#page .hint").text
    assert browser.find_all("tr[data-name='projector'] button") == []
