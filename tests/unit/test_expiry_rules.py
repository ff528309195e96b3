"""The expiry sweep against an in-memory SweepStore: rules, once-only writes, deadlines."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from credits.domain.errors import ConcurrentUpdate
from credits.domain.expiry_rules import is_due_for_expiry, is_due_for_notice, notice_for
from credits.domain.grant_rules import build_grant
from credits.models.api import CreateGrantRequest
from credits.services.expiry import ExpiryService
from credits.store import items as mapping
from credits.store import keys

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LEAD = timedelta(days=7)


def make(n: int, *, expires: datetime | None, amount: str = "10.00", created: datetime | None = None):
    body = {"customerId": f"cus_{n % 7}", "name": f"g{n}", "type": "CASH", "amount": amount, "currency": "USD"}
    if expires is not None:
        body["expiresAt"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    created = created or (expires - timedelta(days=60) if expires else NOW - timedelta(days=60))
    return build_grant("acct_a", CreateGrantRequest.model_validate(body), created, grant_id=f"cg_{n:06d}",
                       allow_past_expiry=True)


class FakeStore:
    """Grants by key; the indexes are derived from the store mapping (so sparseness is the real one)."""

    shards = keys.SHARDS

    def __init__(self, grants, lead=LEAD):
        self.lead = lead
        self.grants = {self.key(g): g for g in grants}
        self.entries, self.notices, self.queries = [], [], 0
        self.lock = threading.RLock()
        self.fail_next_saves = 0

    @staticmethod
    def key(g):
        return keys.customer_pk(g.account_id, g.customer_id), keys.grant_sk(g.id)

    def due_keys(self, queue, shard, until, page_size):
        pk_attr, sk_attr = ("GSI2PK", "GSI2SK") if queue == "EXPIRY" else ("GSI3PK", "GSI3SK")
        want = keys.expiry_gsi2pk(shard) if queue == "EXPIRY" else keys.notice_gsi3pk(shard)
        limit = keys.due_sk(until.strftime("%Y-%m-%dT%H:%M:%SZ"), "\uffff")
        self.queries += 1
        with self.lock:
            items = [mapping.grant_to_item(g, notice_lead=self.lead) for g in self.grants.values()]
        due = sorted((i[sk_attr], (i["PK"], i["SK"])) for i in items if i.get(pk_attr) == want and i[sk_attr] <= limit)
        for _, key in due:
            yield key

    def read_grant(self, key):
        return self.grants.get(key)

    def _save(self, grant, expected_version):
        with self.lock:
            if self.fail_next_saves:
                self.fail_next_saves -= 1
                raise ConcurrentUpdate("injected")
            current = self.grants[self.key(grant)]
            if current.version != expected_version:
                raise ConcurrentUpdate("version")
            self.grants[self.key(grant)] = grant

    def save_expired(self, grant, expected_version, entries):
        with self.lock:
            self._save(grant, expected_version)
            self.entries.extend(entries)

    def save_noticed(self, grant, expected_version, notice):
        with self.lock:
            self._save(grant, expected_version)
            self.notices.append(notice)


def service(store, now=NOW, **kw):
    return ExpiryService(store, lead=LEAD, clock=lambda: now, reserve_ms=0, **kw)


def test_due_rules():
    past, soon, later = make(1, expires=NOW - timedelta(seconds=1)), make(2, expires=NOW + timedelta(days=3)), \
        make(3, expires=NOW + timedelta(days=30))
    assert is_due_for_expiry(past, NOW) and not is_due_for_expiry(soon, NOW)
    assert not is_due_for_expiry(make(4, expires=None), NOW)
    assert not is_due_for_expiry(past.evolve(current_balance=Decimal(0)), NOW)
    assert not is_due_for_expiry(past.evolve(voided_at=NOW), NOW)
    assert is_due_for_expiry(make(5, expires=NOW), NOW)  # expiresAt is the first unusable instant
    assert is_due_for_notice(soon, NOW, LEAD) and not is_due_for_notice(later, NOW, LEAD)
    assert not is_due_for_notice(past, NOW, LEAD)  # the expiry pass handles it, no notice
    assert not is_due_for_notice(soon.evolve(expiring_notice_sent=True), NOW, LEAD)
    updated, notice = notice_for(soon, NOW)
    assert updated.expiring_notice_sent and updated.version == soon.version + 1
    assert (notice.grant_id, notice.current_balance, notice.expiry_date) == (soon.id, Decimal("10.00"), "2026-06-04")


def test_sweep_expires_due_grants_once_and_notices_soon_ones():
    grants = [make(i, expires=NOW - timedelta(hours=i + 1)) for i in range(10)]
    grants += [make(100 + i, expires=NOW + timedelta(days=2)) for i in range(5)]
    grants += [make(200 + i, expires=NOW + timedelta(days=40)) for i in range(5)]
    grants += [make(300, expires=None)]
    store = FakeStore(grants)
    summary = service(store).run()
    assert (summary.expired, summary.notices, summary.more_remaining) == (10, 5, False)
    assert all(e.type == "EXPIRED" and e.amount == Decimal("10.00") and e.balance_after == 0 for e in store.entries)
    assert {n.grant_id for n in store.notices} == {f"cg_{100 + i:06d}" for i in range(5)}
    again = service(store).run()
    assert (again.expired, again.notices) == (0, 0)  # nothing twice


def test_pending_amount_is_untouched():
    g = make(1, expires=NOW - timedelta(days=1)).evolve(current_balance=Decimal("4.00"), pending_amount=Decimal("6.00"))
    store = FakeStore([g])
    service(store).run()
    (after,) = store.grants.values()
    assert (after.current_balance, after.pending_amount, after.expired_at) == (0, Decimal("6.00"), NOW)
    assert store.entries[0].amount == Decimal("4.00")


def test_lost_write_rereads_and_finds_nothing_to_do():
    store = FakeStore([make(1, expires=NOW - timedelta(days=1))])
    original_read = store.read_grant
    calls = []

    def racing_read(key):  # another sweep expires the grant between our read and our write
        grant = original_read(key)
        if not calls:
            calls.append(1)
            from credits.domain.grant_rules import expire_grant

            done, entries = expire_grant(grant, NOW)
            store.save_expired(done, grant.version, entries)
        return grant

    store.read_grant = racing_read
    summary = service(store).run()
    assert len(store.entries) == 1 and summary.expired == 0 and summary.skipped == 1


def test_persistent_contention_leaves_it_for_the_next_run():
    store = FakeStore([make(1, expires=NOW - timedelta(days=1))])
    store.fail_next_saves = 100
    summary = service(store, attempts=3).run()
    assert summary.expired == 0 and summary.more_remaining
    store.fail_next_saves = 0
    assert service(store).run().expired == 1


def test_deadline_stops_and_next_run_continues():
    store = FakeStore([make(i, expires=NOW - timedelta(minutes=i + 1)) for i in range(40)])
    budget = iter([100] * 16 + [0] * 1000)  # one check before the pass, then one per grant: 15 grants
    first = service(store).run(remaining_ms=lambda: next(budget))
    assert first.expired == 15 and first.more_remaining
    second = service(store).run(remaining_ms=lambda: 10_000)
    assert second.expired == 25 and not second.more_remaining
    assert len(store.entries) == 40


def test_concurrent_sweeps_expire_each_grant_once():
    grants = [make(i, expires=NOW - timedelta(minutes=i % 50 + 1)) for i in range(200)]
    store = FakeStore(grants)
    results = []
    threads = [threading.Thread(target=lambda: results.append(service(store).run())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.expired for r in results) == 200
    assert sorted(e.grant_id for e in store.entries) == sorted(g.id for g in grants)


def test_patched_expiry_is_noticed_again():
    g = make(1, expires=NOW + timedelta(days=2))
    store = FakeStore([g])
    service(store).run()
    key = FakeStore.key(g)
    noticed = store.grants[key]
    store.grants[key] = noticed.evolve(expires_at=NOW + timedelta(days=5), expiring_notice_sent=False,
                                       version=noticed.version + 1)  # what patch_grant does
    assert service(store).run().notices == 1
    assert [n.expires_at for n in store.notices] == [NOW + timedelta(days=2), NOW + timedelta(days=5)]
    assert store.notices[0].grant_version != store.notices[1].grant_version
