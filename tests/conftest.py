"""Shared test settings: hypothesis without per-example deadlines (the machine running the
suite may be loaded; tests never fail on a timing), and derandomized so that `make test` runs
the same examples every time (`HYPOTHESIS_RANDOM=1` explores new ones)."""

import os

from hypothesis import settings

settings.register_profile("credits", deadline=None, derandomize=not os.environ.get("HYPOTHESIS_RANDOM"))
settings.load_profile("credits")
