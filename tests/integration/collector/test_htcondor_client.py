"""The real htcondor2 client against a real `glidein collector` process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import htcondor2
import pytest

from glidein.common import classads
from tests.integration.collector.conftest import Running, StartCollector
from tests.procs import wait_for

HARD_EXPRS = {
    "Quotes": '"say \\"hi\\" twice"',
    "Backslashes": '"C:\\\\dir\\\\file \\\\\\" end"',
    "TrailingBackslash": '"ends with \\\\"',
    "Newline": '"line1\\nline2\\ttab"',
    "Unicode": '"Grüße 東京 ✓"',
    "Empty": '""',
    "Big": str(2**62),
    "Negative": "-9",
    "Real": "1.5",
    "Tiny": "-2.25e-10",
    "Huge": "1e300",
    "Yes": "true",
    "Nothing": "undefined",
    "List": '{ 1, "two", 3.5, { "nested", "list" } }',
    "Nested": '[ a = 1; b = "x\\"y"; c = [ d = { 1, 2 } ] ]',
    "Requirements": 'TARGET.Cpus >= 2 && regexp("^slot[0-9]+@", Name) && (Memory > 1024 || GPUs =?= 1)',
    "Rank": "Memory * 2 + ifThenElse(isUndefined(KFlops), 0, KFlops / 1000)",
    "Membership": 'stringListMember("b", "a,b,c")',
    "StringWithSemicolon": '"a; b = 2 ] x"',
    "StringWithBrackets": '"[ { ( ] } )"',
}


def _hard_ad() -> classads.ClassAd:
    body = "; ".join(f"{name} = {expr}" for name, expr in HARD_EXPRS.items())
    return classads.parse_ad(f'[ MyType = "glidetest"; Name = "hard@ad"; {body} ]')


def _ad(my_type: str, name: str, **attrs: object) -> classads.ClassAd:
    return classads.from_dict({"MyType": my_type, "Name": name, **attrs})


def _settle(client: htcondor2.Collector, constraint: str, count: int) -> None:
    """Wait until `count` ads match: advertise returns once sent, the collector stores them next."""
    wait_for(lambda: len(client.query(htcondor2.AdType.Any, constraint, ["Name"])) == count, timeout=10)


def test_hard_ad_comes_back_equal_attribute_by_attribute(collector: Running) -> None:
    sent = _hard_ad()
    client = htcondor2.Collector(collector.address)
    client.advertise([sent], "UPDATE_AD_GENERIC")
    _settle(client, 'MyType == "glidetest"', 1)
    (got,) = client.query(htcondor2.AdType.Any, 'MyType == "glidetest"')
    for name in sent:
        assert str(got.lookup(name)) == str(sent.lookup(name)), name
        assert classads.eval_attr(got, name) == classads.eval_attr(sent, name), name
    assert classads.eval_attr(got, "Big") == 2**62
    assert classads.eval_attr(got, "Backslashes") == 'C:\\dir\\file \\" end'
    assert classads.eval_attr(got, "TrailingBackslash") == "ends with \\"
    assert classads.eval_attr(got, "Newline") == "line1\nline2\ttab"
    assert classads.eval_attr(got, "Unicode") == "Grüße 東京 ✓"
    assert isinstance(classads.eval_attr(got, "LastHeardFrom"), int)


def test_query_constraint_projection_and_types(collector: Running) -> None:
    client = htcondor2.Collector(collector.address)
    ads = [_ad("glidefactory", f"e{i}@g@f", Index=i, Site=f"S{i % 3}") for i in range(30)]
    client.advertise(ads, "UPDATE_AD_GENERIC")
    client.advertise(
        [_ad("Machine", "slot1@h1", Cpus=4), _ad("Machine", "slot2@h1", Cpus=8)], "UPDATE_STARTD_AD"
    )
    _settle(client, "true", 33)
    got = client.query(
        htcondor2.AdType.Any, 'MyType == "glidefactory" && Site == "S1" && Index > 10', ["Index"]
    )
    assert sorted(classads.eval_attr(ad, "Index") for ad in got) == [13, 16, 19, 22, 25, 28]
    assert all(set(ad.keys()) == {"Index"} for ad in got)
    slots = client.query(htcondor2.AdType.Startd, "Cpus > 4")
    assert [classads.eval_attr(ad, "Name") for ad in slots] == ["slot2@h1"]
    assert len(client.query(htcondor2.AdType.Any)) == 33  # 30 + 2 slots + the collector's own ad
    (own,) = client.query(htcondor2.AdType.Collector)
    assert classads.eval_attr(own, "TotalAds") == 33
    assert client.query(htcondor2.AdType.Schedd) == []


def test_update_replaces_by_mytype_and_name(collector: Running) -> None:
    client = htcondor2.Collector(collector.address)
    client.advertise([_ad("glideclient", "c1", Req=1)], "UPDATE_AD_GENERIC")
    client.advertise([_ad("glideclient", "C1", Req=2), _ad("glideother", "c1", Req=3)], "UPDATE_AD_GENERIC")
    _settle(client, 'Name == "c1"', 2)
    got = client.query(htcondor2.AdType.Any, 'MyType == "glideclient"')
    assert [classads.eval_attr(ad, "Req") for ad in got] == [2]
    assert len(client.query(htcondor2.AdType.Any, 'Name == "c1"')) == 2


def test_invalidate_by_requirements_and_by_name(collector: Running) -> None:
    client = htcondor2.Collector(collector.address)
    client.advertise([_ad("glidefactory", f"e{i}", Index=i) for i in range(6)], "UPDATE_AD_GENERIC")
    client.advertise([_ad("Machine", "slot1@h", Cpus=1)], "UPDATE_STARTD_AD")
    _settle(client, "true", 8)
    query = classads.from_dict({"MyType": "Query", "TargetType": "glidefactory"})
    query["Requirements"] = classads.parse_expr("Index >= 4")
    client.advertise([query], "INVALIDATE_ADS_GENERIC")
    _settle(client, 'MyType == "glidefactory"', 4)
    left = client.query(htcondor2.AdType.Any, 'MyType == "glidefactory"', ["Index"])
    assert sorted(classads.eval_attr(ad, "Index") for ad in left) == [0, 1, 2, 3]
    by_name = classads.from_dict({"MyType": "Query", "TargetType": "glidefactory", "Name": "e0"})
    client.advertise([by_name], "INVALIDATE_ADS_GENERIC")
    _settle(client, 'MyType == "glidefactory"', 3)
    startd = classads.from_dict({"MyType": "Query", "TargetType": "Machine"})
    startd["Requirements"] = classads.parse_expr("true")
    client.advertise([startd], "INVALIDATE_STARTD_ADS")
    wait_for(lambda: client.query(htcondor2.AdType.Startd) == [], timeout=10)


def test_ads_expire_after_their_lifetime(start_collector: StartCollector) -> None:
    running = start_collector("--default-lifetime", "2")
    client = htcondor2.Collector(running.address)
    client.advertise(
        [_ad("glideshort", "a", ClassAdLifetime=1), _ad("glidedefault", "b")], "UPDATE_AD_GENERIC"
    )
    _settle(client, 'MyType == "glideshort"', 1)
    started = time.monotonic()
    wait_for(lambda: not client.query(htcondor2.AdType.Any, 'MyType == "glideshort"'), timeout=5)
    assert client.query(htcondor2.AdType.Any, 'MyType == "glidedefault"') or time.monotonic() - started > 1.5
    wait_for(lambda: not client.query(htcondor2.AdType.Any, 'MyType == "glidedefault"'), timeout=6)
    assert "expired" in running.log()


CLIENT = textwrap.dedent(
    """
    import sys, time, htcondor2, classad2
    address, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = htcondor2.Collector(address)
    ads = []
    for i in range(count):
        ad = classad2.ClassAd()
        ad["MyType"] = "glideload"; ad["Name"] = f"{who}-{i}"; ad["Who"] = who
        ads.append(ad)
    for start in range(0, count, 50):
        client.advertise(ads[start:start + 50], "UPDATE_AD_GENERIC")
    for _ in range(100):
        got = client.query(htcondor2.AdType.Any, f'MyType == "glideload" && Who == "{who}"', ["Name"])
        if len(got) == count:
            break
        time.sleep(0.1)
    assert len(got) == count, len(got)
    """
)


def test_many_clients_at_once(collector: Running) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", CLIENT, collector.address, f"w{n}", "300"]) for n in range(8)
    ]
    assert [proc.wait(timeout=60) for proc in procs] == [0] * 8
    client = htcondor2.Collector(collector.address)
    assert len(client.query(htcondor2.AdType.Any, 'MyType == "glideload"', ["Name"])) == 2400


def test_client_that_never_negotiates(collector: Running) -> None:
    code = CLIENT.replace("import sys,", "import os, sys,")
    env_cmd = [sys.executable, "-c", code, collector.address, "raw", "20"]
    proc = subprocess.run(
        env_cmd,
        env={"_condor_SEC_CLIENT_NEGOTIATION": "NEVER", "PATH": "/usr/bin:/bin"},
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0
    assert "raw command UPDATE_AD_GENERIC" in collector.log()


def test_second_command_resumes_the_session(collector: Running) -> None:
    client = htcondor2.Collector(collector.address)
    client.advertise([_ad("glideone", "a")], "UPDATE_AD_GENERIC")
    _settle(client, 'MyType == "glideone"', 1)
    assert "session resumed" in collector.log()


@pytest.mark.parametrize("limit", [1, 5])
def test_result_limit_via_stdlib_client(collector: Running, limit: int) -> None:
    from glidein.pool import cedar

    cedar.advertise(collector.address, [[("MyType", '"glidex"'), ("Name", f'"n{i}"')] for i in range(10)])
    wait_for(lambda: len(cedar.query(collector.address, "glidex")) == 10, timeout=10)
    request = cedar.make_ad({"MyType": "Query", "TargetType": "glidex", "LimitResults": limit})
    request.append(("Requirements", "true"))
    with cedar.Connection(collector.address) as conn:
        conn.start_command(cedar.COMMANDS["QUERY_GENERIC_ADS"])
        conn.send(cedar.Encoder().put_ad(request))
        reply = conn.receive()
        count = 0
        while reply.get_int():
            reply.get_ad()
            count += 1
    assert count == limit
