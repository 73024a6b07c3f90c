"""Collector speed-ups: updates taken from the read buffer, value filters that narrow a scan."""

from __future__ import annotations

from typing import Any

from glidein.pool import cedar
from glidein.pool.collector.commands import Collector, QuerySpec
from glidein.pool.collector.server import CollectorServer, Config, Conn
from glidein.pool.collector.store import AdStore, ValueFilter

UPDATE_STARTD = cedar.COMMANDS["UPDATE_STARTD_AD"]
UPDATE_ACK = cedar.COMMANDS["UPDATE_STARTD_AD_WITH_ACK"]
QUERY_STARTD = cedar.COMMANDS["QUERY_STARTD_ADS"]


def _update(name: str, command: int = UPDATE_STARTD, **values: cedar.Literal) -> bytes:
    ad = cedar.make_ad({"MyType": "Machine", "Name": name, "Cpus": 8, **values})
    return cedar.frame(cedar.Encoder().put_int(command).put_ad(ad).payload())


def _conn(data: bytes) -> Conn:
    no_stream: Any = None
    conn = Conn(no_stream, no_stream, "127.0.0.1:1")
    conn.buf += data
    return conn


def test_buffered_updates_store_whole_messages_and_stop_at_anything_else() -> None:
    server = CollectorServer(Config(), clock=lambda: 1000.0)
    bad = cedar.frame(cedar.Encoder().put_int(UPDATE_STARTD).put_ad([("MyType", '"Machine"')]).payload())
    ack = _update("s4", UPDATE_ACK)  # owes an answer: left for the coroutine path
    tail = _update("s5")[:-3]  # a message cut by the read: left for read_message
    first = _update("s1") + bad + _update("s2") + _update("s3", Memory=1024)
    conn = _conn(first + ack + tail)
    server.buffered_updates(conn)
    names = sorted(record.name for bucket in server.store.types.values() for record in bucket.values())
    assert names == ["s1", "s2", "s3"]  # the ad without a Name is rejected, the others stored
    assert server.collector.stats.rejected == 1
    assert conn.pos == len(first)  # stopped at the update that wants an ACK
    conn.pos += len(ack)
    server.buffered_updates(conn)
    assert conn.pos == len(first) + len(ack)  # the partial message stays in the buffer


def test_buffered_updates_leave_oversized_and_multi_packet_messages() -> None:
    server = CollectorServer(Config(max_message=300), clock=lambda: 1000.0)
    big = _update("big", Blob="x" * 400)
    conn = _conn(big)
    server.buffered_updates(conn)
    assert conn.pos == 0 and len(server.store) == 0  # read_message refuses it, with its log line
    payload = cedar.Encoder().put_int(UPDATE_STARTD).put_ad(cedar.make_ad({"MyType": "M", "Name": "n"}))
    conn = _conn(cedar.frame(payload.payload(), max_packet=16))
    server.buffered_updates(conn)
    assert conn.pos == 0


def _store(ads: int) -> tuple[Collector, AdStore]:
    store = AdStore(index_min_ads=100)
    collector = Collector(store, default_lifetime=100, clock=lambda: 1000.0)
    for i in range(ads):
        ad = cedar.make_ad({"MyType": "Machine", "Name": f"s{i}", "Cpus": 8, "Site": f"Site{i % 50}"})
        collector.update(UPDATE_STARTD, cedar.Message(cedar.Encoder().put_ad(ad).payload()), "p")
    return collector, store


def _plan(collector: Collector, constraint: str) -> QuerySpec:
    request = [*cedar.make_ad({"MyType": "Query"}), ("Requirements", constraint)]
    return collector.query_specs(QUERY_STARTD, cedar.Message(cedar.Encoder().put_ad(request).payload()))[0]


def test_a_function_of_one_attribute_scans_only_the_values_that_pass() -> None:
    collector, store = _store(1000)
    spec = _plan(collector, 'stringListMember(Site, "Site7,Site9,Other") && Cpus >= 8')
    assert [f.attr for f in spec.filters] == ["site", "cpus"]
    candidates = store.candidates(spec.types, spec.terms, spec.filters)
    assert len(candidates) == 40  # 2 of 50 sites, not the 1,000 ads
    found = store.matching(candidates, spec.constraint, 1000.0)
    assert sorted(int(r.name[1:]) % 50 for r in found) == [7] * 20 + [9] * 20
    assert "cpus" not in store.indexes  # the Site filter narrowed enough: Cpus not tried
    spec = _plan(collector, "Cpus >= 8")
    assert len(store.candidates(spec.types, spec.terms, spec.filters)) == 1000
    assert "cpus" in store.unindexed and "cpus" not in store.indexes  # numbers: no index would narrow


def test_terms_that_pass_without_the_attribute_or_mix_attributes_are_not_filters() -> None:
    collector, store = _store(1000)
    for constraint in (
        'Site =!= "Site7"',
        'isUndefined(Site) || Site == "Site7"',
        'strcat(Site, Name) == "x"',
    ):
        spec = _plan(collector, constraint)
        assert len(store.candidates(spec.types, spec.terms, spec.filters)) == 1000, constraint


def test_which_values_pass_a_filter_is_evaluated_once_per_filter_text() -> None:
    collector, store = _store(1000)
    calls: list[str | None] = []
    plain = ValueFilter.passes

    def counted(self: ValueFilter, value: str | None) -> bool:
        calls.append(value)
        return plain(self, value)

    ValueFilter.passes = counted  # type: ignore[method-assign]
    try:
        for _ in range(3):
            spec = _plan(collector, 'stringListMember(Site, "Site7,Site9")')
            assert len(store.candidates(spec.types, spec.terms, spec.filters)) == 40
        assert len([value for value in calls if value is not None]) == 50  # 50 sites, once each
        calls.clear()
        for _ in range(2):
            spec = _plan(collector, 'stringListMember(Site, "Site7,Site9") && time() > 0')
            store.candidates(spec.types, spec.terms, spec.filters)
        assert [value for value in calls if value is not None] == []  # the same term: known already
        calls.clear()
        for _ in range(2):
            spec = _plan(collector, 'Site == strcat("Site", time() % 1 + 7)')
            store.candidates(spec.types, spec.terms, spec.filters)
        assert len([value for value in calls if value is not None]) == 100  # calls time(): not cached
    finally:
        ValueFilter.passes = plain  # type: ignore[method-assign]
