"""A synthetic CPTS territory: professionals, patients, pathways and behaviour.

``territory`` and ``behaviour`` are pure (a seed in, the same facts out);
``driver`` plays those facts through the public HTTP API with the virtual clock.
"""
