"""Shared test settings: hypothesis without per-example deadlines (the machine running the
suite may be loaded; tests never fail on a timing)."""

from hypothesis import settings

settings.register_profile("credits", deadline=None)
settings.load_profile("credits")
