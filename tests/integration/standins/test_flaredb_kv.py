"""flaredb's KV: writes through any node, create_only decided once cluster-wide."""

from __future__ import annotations

import threading

from standins import httpclient
from standins.contract import Service
from standins.launcher import wait_until

from .conftest import ClusterFactory


def test_kv_put_get_list_delete_and_atomic_create(make_cluster: ClusterFactory) -> None:
    cluster = make_cluster(Service.FLAREDB)
    cluster.bootstrap(3)
    leader = cluster.wait_leader([1, 2, 3])
    follower = next(n for n in (1, 2, 3) if n != leader)
    f_url = cluster.addr(follower).api_url

    put = httpclient.request("PUT", f_url + "/kv/app/a", {"value": {"x": 1}}, timeout=10)
    assert put.status == 200 and put.body == {"key": "app/a", "value": {"x": 1}}
    httpclient.request("PUT", f_url + "/kv/app/b", {"value": 2}, timeout=10)
    httpclient.request("PUT", f_url + "/kv/other", {"value": 3}, timeout=10)
    for n in (1, 2, 3):
        got = wait_until(
            "app/b everywhere",
            lambda n=n: httpclient.request("GET", cluster.addr(n).api_url + "/kv/app/b").body.get("value"),
            10,
        )
        assert got == 2
    listed = httpclient.request("GET", f_url + "/kv?prefix=app/").body
    assert listed == {"items": [{"key": "app/a", "value": {"x": 1}}, {"key": "app/b", "value": 2}]}
    missing = httpclient.request("GET", f_url + "/kv/nope")
    assert missing.status == 404
    assert httpclient.request("DELETE", f_url + "/kv/other", timeout=10).status == 200
    assert httpclient.request("DELETE", f_url + "/kv/other", timeout=10).status == 404
    bad = httpclient.request("PUT", f_url + "/kv/x", {"nope": 1})
    assert bad.status == 400

    statuses: list[int] = []
    lock = threading.Lock()

    def race(n: int) -> None:
        r = httpclient.request("PUT", cluster.addr(n).api_url + "/kv/once?create_only=true", {"value": n}, timeout=10)
        with lock:
            statuses.append(r.status)

    threads = [threading.Thread(target=race, args=(n,)) for n in (1, 2, 3, 1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(statuses) == [201, 409, 409, 409, 409, 409]
    conflict = httpclient.request("PUT", f_url + "/kv/once?create_only=true", {"value": 0})
    assert conflict.status == 409 and conflict.body == {"error": "exists"}


def test_chainfire_has_no_kv(make_cluster: ClusterFactory) -> None:
    cluster = make_cluster(Service.CHAINFIRE, size_hint=1)
    cluster.bootstrap(1)
    cluster.wait_leader([1])
    assert httpclient.request("GET", cluster.addr(1).api_url + "/kv/a").status == 404
