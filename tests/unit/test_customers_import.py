"""The import use case with an in-memory store: idempotency, full-snapshot replacement without a
"not found" window, upserts, and files that must never empty the directory."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.domain.customers import DirectoryEntry
from ringback.services.customer_import import CustomerImport, ImportMode

pytestmark = pytest.mark.unit

HEADER = "customer_id,name,phones,debt_amount,debt_currency,segment\n"


class MemoryStore:
    """A CustomerStore that checks an invariant after every single item write or delete."""

    def __init__(self) -> None:
        self.items: dict[str, DirectoryEntry] = {}
        self.writes = 0
        self.deletes = 0
        self.after_each_change: Callable[[dict[str, DirectoryEntry]], None] = lambda items: None
        self.before_delete: Callable[[], None] = lambda: None

    def fingerprints(self) -> dict[str, str]:
        return {e164: entry.fingerprint() for e164, entry in self.items.items()}

    def put(self, entries: Sequence[DirectoryEntry]) -> None:
        for entry in entries:
            self.items[entry.e164] = entry
            self.writes += 1
            self.after_each_change(self.items)

    def delete(self, stale: Mapping[str, str]) -> int:
        self.before_delete()
        deleted = 0
        for e164, fingerprint in stale.items():
            current = self.items.get(e164)
            if current is not None and current.fingerprint() == fingerprint:
                del self.items[e164]
                deleted += 1
                self.deletes += 1
                self.after_each_change(self.items)
        return deleted


def csv_of(rows: list[tuple[str, str, str, str]]) -> bytes:
    lines = [f"{cid},{name},{phones},{amount},CZK,retail" for cid, name, phones, amount in rows]
    return (HEADER + "\n".join(lines) + "\n").encode()


def importer(store: MemoryStore) -> CustomerImport:
    return CustomerImport(store, default_region="CZ")


def test_same_file_twice_changes_nothing() -> None:
    store = MemoryStore()
    data = csv_of([("C1", "Jan", "777000001|777000002", "10"), ("C2", "Eva", "777000003", "0")])
    first = importer(store).run(data, source="a.csv")
    assert (first.status, first.created, first.updated, first.deleted) == ("ok", 3, 0, 0)
    snapshot, writes = dict(store.items), store.writes
    second = importer(store).run(data, source="a.csv")
    assert (second.created, second.updated, second.deleted, second.unchanged) == (0, 0, 0, 3)
    assert store.items == snapshot
    assert store.writes == writes


def test_full_import_replaces_the_snapshot_without_a_not_found_window() -> None:
    store = MemoryStore()
    importer(store).run(
        csv_of(
            [
                ("C1", "Jan", "777000001", "0"),
                ("C2", "Eva", "777000002", "5"),
                ("C3", "Old", "777000003", "0"),
            ]
        ),
        source="monday.csv",
    )
    kept = {"+420777000001", "+420777000002"}

    def no_window(items: dict[str, DirectoryEntry]) -> None:
        assert kept <= set(items), "a customer present in both snapshots was missing for a moment"

    store.after_each_change = no_window
    report = importer(store).run(
        csv_of(
            [
                ("C1", "Jan", "777000001", "0"),
                ("C2", "Eva", "777000002", "0"),
                ("C4", "New", "777000004", "9"),
            ]
        ),
        source="tuesday.csv",
    )
    assert (report.created, report.updated, report.unchanged, report.deleted) == (1, 1, 1, 1)
    assert set(store.items) == {"+420777000001", "+420777000002", "+420777000004"}
    assert store.items["+420777000002"].debt is False
    assert store.items["+420777000004"].debt is True


def test_number_moving_to_another_customer_is_one_overwrite() -> None:
    store = MemoryStore()
    importer(store).run(csv_of([("C1", "Jan", "777000001", "0")]), source="a.csv")
    store.after_each_change = lambda items: None if "+420777000001" in items else pytest.fail("gap")
    report = importer(store).run(csv_of([("C9", "Eva", "777000001", "0")]), source="b.csv")
    assert (report.updated, report.deleted) == (1, 0)
    assert store.items["+420777000001"].customer_id == "C9"


def test_a_concurrent_write_is_not_deleted() -> None:
    store = MemoryStore()
    importer(store).run(
        csv_of([("C1", "Jan", "777000001", "0"), ("C2", "Eva", "777000002", "0")]), source="a"
    )

    def other_import_rewrites_c2() -> None:
        store.items["+420777000002"] = DirectoryEntry(e164="+420777000002", customer_id="C2", debt=True)

    store.before_delete = other_import_rewrites_c2
    report = importer(store).run(csv_of([("C1", "Jan", "777000001", "0")]), source="b")
    assert report.deleted == 0
    assert store.items["+420777000002"].debt is True


def test_upsert_mode_never_deletes() -> None:
    store = MemoryStore()
    importer(store).run(csv_of([("C1", "Jan", "777000001", "0")]), source="a")
    report = importer(store).run(
        csv_of([("C2", "Eva", "777000002", "0")]), source="b", mode=ImportMode.UPSERT
    )
    assert (report.mode, report.created, report.deleted) == ("upsert", 1, 0)
    assert set(store.items) == {"+420777000001", "+420777000002"}


@pytest.mark.parametrize(
    "data",
    [
        b"customer_id,name,phones\n",  # header only
        b"customer_id;phones\nC1;12\nC2;34\n",  # every row bad
        b"a,b,c\n1,2,3\n",  # not an export at all
        b"",
    ],
)
def test_a_broken_file_never_empties_the_directory(data: bytes) -> None:
    store = MemoryStore()
    importer(store).run(csv_of([("C1", "Jan", "777000001", "0")]), source="good")
    report = importer(store).run(data, source="broken")
    assert report.status == "failed"
    assert report.error
    assert set(store.items) == {"+420777000001"}


def test_mostly_rejected_file_imports_rows_but_deletes_nothing() -> None:
    store = MemoryStore()
    importer(store).run(
        csv_of([("C1", "Jan", "777000001", "0"), ("C2", "Eva", "777000002", "0")]), source="a"
    )
    report = importer(store).run(
        csv_of([("C3", "New", "777000003", "0"), ("C4", "Bad", "12", "0"), ("C5", "Bad", "34", "0")]),
        source="b",
    )
    assert (report.status, report.created, report.rejected, report.deleted) == ("partial", 1, 2, 0)
    assert report.deletions_skipped and "rejected" in report.deletions_skipped
    assert set(store.items) == {"+420777000001", "+420777000002", "+420777000003"}
    assert [r.line for r in report.rejections] == [3, 4]


def test_report_lists_rejections_up_to_a_cap() -> None:
    store = MemoryStore()
    rows = [(f"C{i}", "X", "12", "0") for i in range(30)] + [
        (f"D{i}", "Y", f"7770001{i:02d}", "0") for i in range(40)
    ]
    report = CustomerImport(store, default_region="CZ", max_listed_rejections=10).run(
        csv_of(rows), source="x"
    )
    assert (report.rejected, len(report.rejections), report.rejections_truncated) == (30, 10, True)
    as_dict = report.to_dict()
    assert as_dict["rejections"][0] == {
        "line": 2,
        "reason": "phones: number #1 is not valid (invalid)",
        "fields": ["phones"],
        "customer_id": "C0",
    }


numbers = st.sampled_from([f"+4207770000{i:02d}" for i in range(12)])
snapshot = st.dictionaries(
    numbers, st.tuples(st.sampled_from(["C1", "C2", "C3"]), st.booleans()), max_size=10
)


@given(old=snapshot, new=snapshot)
@settings(max_examples=150, deadline=None)
def test_full_import_property(old: dict[str, tuple[str, bool]], new: dict[str, tuple[str, bool]]) -> None:
    """For any old and new snapshot: the result equals the new one, numbers in both are never
    missing during the import, and importing the new one again writes nothing."""

    def as_csv(snap: dict[str, tuple[str, bool]]) -> bytes:
        # One customer per number keeps a number from appearing under two customers.
        rows = [(f"{cid}-{e164[-2:]}", "N", e164, "5" if debt else "0") for e164, (cid, debt) in snap.items()]
        return csv_of(rows)

    store = MemoryStore()
    importer(store).run(as_csv(old), source="old")
    both = set(old) & set(new)
    store.after_each_change = lambda items: None if both <= set(items) else pytest.fail("window")
    report = importer(store).run(as_csv(new), source="new")
    if new:
        assert set(store.items) == set(new)
        assert {e: store.items[e].debt for e in new} == {e: d for e, (_, d) in new.items()}
    else:
        assert report.status == "failed"
        assert set(store.items) == set(old)
    writes = store.writes
    again = importer(store).run(as_csv(new), source="new")
    assert store.writes == writes
    assert again.created == again.updated == again.deleted == 0
