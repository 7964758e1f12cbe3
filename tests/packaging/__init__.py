"""Tests of how FACTSTR is packaged: metadata, the sdist, the Dockerfile, the make targets."""
