"""The public surface of factstr.projections: what it exports and how it presents itself."""

from __future__ import annotations

import factstr.projections as projections


def test_all_is_sorted_and_every_name_exists() -> None:
    assert projections.__all__ == sorted(projections.__all__)
    for name in projections.__all__:
        assert hasattr(projections, name), name


def test_exported_classes_present_themselves_as_factstr_projections() -> None:
    for name in projections.__all__:
        value = getattr(projections, name)
        if isinstance(value, type):
            assert value.__module__ == "factstr.projections", name
