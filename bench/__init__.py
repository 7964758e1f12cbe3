"""The FACTSTR benchmark harness: scenarios B1-B9 of BENCHMARKS.md on every store, run as ``python -m bench``.

Every figure that matters is a ratio measured in the same run: a store against the raw database doing the
minimal equivalent work, or one size of log against another. Every scenario checks the data it got back and
fails loudly when a store returns something wrong. ``--peers umadb,eventsourcing`` runs B1-B7 and B10 side by
side with the peers in interleaved rounds instead (``bench.side_cli``).
"""
