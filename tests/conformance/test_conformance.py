"""Runs the conformance suite (factstr.testing.conformance) against every store."""

from factstr.testing.conformance import *  # noqa: F403
from factstr.testing.model_check import *  # noqa: F403
