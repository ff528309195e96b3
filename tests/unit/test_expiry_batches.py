"""The expiry sweep's batched path (a store with read_grants / save_*_batch): one transaction per
batch, all-or-nothing, and a batch that loses a condition is redone grant by grant."""

from __future__ import annotations

import threading
from datetime import timedelta

from credits.domain.errors import ConcurrentUpdate
from credits.services.expiry import ExpiryService
from test_expiry_rules import LEAD, NOW, FakeStore, make


class BatchStore(FakeStore):
    """FakeStore plus the batch methods, atomic like a transaction."""

    def __init__(self, grants, **kw):
        super().__init__(grants, **kw)
        self.batches: list[int] = []
        self.fail_next_batches = 0

    def read_grants(self, keys_):
        return {k: self.grants.get(k) for k in keys_}

    def _check_all(self, batch):
        if self.fail_next_batches:
            self.fail_next_batches -= 1
            raise ConcurrentUpdate("injected")
        for grant, expected, _ in batch:
            if self.grants[self.key(grant)].version != expected:
                raise ConcurrentUpdate("version")

    def save_expired_batch(self, batch):
        with self.lock:
            self._check_all(batch)
            for grant, _, entries in batch:
                self.grants[self.key(grant)] = grant
                self.entries.extend(entries)
            self.batches.append(len(batch))

    def save_noticed_batch(self, batch):
        with self.lock:
            self._check_all(batch)
            for grant, _, notice in batch:
                self.grants[self.key(grant)] = grant
                self.notices.append(notice)
            self.batches.append(len(batch))


def service(store, **kw):
    return ExpiryService(store, lead=LEAD, clock=lambda: NOW, reserve_ms=0, **kw)


def test_batches_expire_and_notice_each_grant_once():
    grants = [make(i, expires=NOW - timedelta(minutes=i + 1)) for i in range(200)]
    grants += [make(1000 + i, expires=NOW + timedelta(days=2)) for i in range(30)]
    store = BatchStore(grants)
    summary = service(store, batch_grants=33).run()
    assert (summary.expired, summary.notices, summary.more_remaining) == (200, 30, False)
    assert sorted(e.grant_id for e in store.entries) == sorted(g.id for g in grants[:200])
    assert max(store.batches) <= 33 and len(store.batches) < 200 / 10  # batched, not one per grant
    again = service(store).run()
    assert (again.expired, again.notices) == (0, 0)


def test_a_lost_batch_is_redone_grant_by_grant():
    store = BatchStore([make(i, expires=NOW - timedelta(minutes=i + 1)) for i in range(20)])
    store.fail_next_batches = 100  # every batch write loses: per-grant writes still go through
    summary = service(store, workers=1).run()
    assert summary.expired == 20 and not summary.more_remaining
    assert len(store.entries) == 20


def test_concurrent_batched_sweeps_expire_each_grant_once():
    grants = [make(i, expires=NOW - timedelta(minutes=i % 50 + 1)) for i in range(300)]
    store = BatchStore(grants)
    results = []
    threads = [threading.Thread(target=lambda: results.append(service(store).run())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.expired for r in results) == 300
    assert sorted(e.grant_id for e in store.entries) == sorted(g.id for g in grants)


def test_deadline_is_checked_before_each_batch():
    store = BatchStore([make(i, expires=NOW - timedelta(minutes=i + 1)) for i in range(100)])
    budget = iter([100] * 3 + [0] * 1000)  # before the pass, then two batches of the first shard
    first = service(store, workers=1, batch_grants=10).run(remaining_ms=lambda: next(budget))
    assert 0 < first.expired <= 20 and first.expired % 10 == 0 and first.more_remaining
    assert first.expired + service(store).run().expired == 100


def test_batch_of_one_is_the_per_grant_path():
    store = BatchStore([make(i, expires=NOW - timedelta(minutes=i + 1)) for i in range(5)])
    assert service(store, batch_grants=1).run().expired == 5
    assert store.batches == []
