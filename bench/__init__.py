"""Benchmarks: each module has ``main(argv) -> int`` and is run by ``parcours bench <name>``.

They print figures (and ratios against a baseline measured in the same run);
they are not timed tests.
"""
