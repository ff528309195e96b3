"""TestClockFunction: `/test-clocks` (not in live mode: 404 there; api/routes/test_clocks.py), and
the asynchronous work of an advance or a deletion that did not finish within the request (a
`Test Clock Work` event on the bus; the schedule resumes a clock whose worker died:
events/test_clock_work.py)."""

from __future__ import annotations

from credits.api.resolver import lambda_entry, make_resolver
from credits.api.routes import test_clocks as test_clock_routes
from credits.events.test_clock_work import work

app = make_resolver()
app.include_router(test_clock_routes.router)

lambda_handler = lambda_entry(app, commands=work, direct=work)
