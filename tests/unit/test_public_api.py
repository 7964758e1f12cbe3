"""The public surface: what factstr exports and how it presents itself."""

from __future__ import annotations

import pytest

import factstr


def test_all_is_sorted_and_complete() -> None:
    assert factstr.__all__ == sorted(factstr.__all__, key=lambda name: (not name.isupper(), name))
    for name in factstr.__all__:
        assert hasattr(factstr, name)


def test_exported_classes_present_themselves_as_factstr() -> None:
    for name in ("NewEvent", "EventRecord", "EventQuery", "MemoryStore", "EventStream", "InvalidInput"):
        assert getattr(factstr, name).__module__ == "factstr"
    assert repr(factstr.NewEvent("a", {})).startswith("NewEvent(")
    assert "factstr.MemoryStore" in repr(factstr.MemoryStore())


def test_error_tree() -> None:
    for name in (
        "ConditionalAppendConflict",
        "DurableStreamActive",
        "InvalidInput",
        "EmptyAppend",
        "DurableStreamMismatch",
        "UnknownDurableStream",
        "StoreClosed",
        "SchemaVersionError",
        "BackendError",
        "AppendOutcomeUnknown",
    ):
        assert issubclass(getattr(factstr, name), factstr.EventStoreError)
    assert issubclass(factstr.AppendOutcomeUnknown, factstr.BackendError)


def test_errors_of_the_other_packages_live_in_the_one_tree() -> None:
    from factstr import _errors, aio

    assert aio.AbandonedBatch is _errors.AbandonedBatch
    assert issubclass(aio.AbandonedBatch, factstr.EventStoreError)
    assert "AbandonedBatch" in (_errors.__doc__ or "")
    assert f"{aio.AbandonedBatch.__module__}.{aio.AbandonedBatch.__name__}" == "factstr.aio.AbandonedBatch"


def test_conflict_pickles_with_its_versions() -> None:
    import pickle

    conflict = pickle.loads(pickle.dumps(factstr.ConditionalAppendConflict(1, 2)))
    assert (conflict.expected, conflict.actual) == (1, 2)


@pytest.mark.parametrize(
    "url", ["mysql://x", "memory", "sqlite://relative.db", "sqlite:///", "memory://extra", "", "http//x", "ftp://x"]
)
def test_connect_refuses_unknown_or_malformed_urls(url: str) -> None:
    with pytest.raises(factstr.InvalidInput):
        factstr.connect(url)


def test_connect_memory() -> None:
    with factstr.connect("memory://") as store:
        assert isinstance(store, factstr.MemoryStore)


def test_connect_refuses_non_strings() -> None:
    with pytest.raises(factstr.InvalidInput):
        factstr.connect(None)  # type: ignore[arg-type]
