"""The replicated KV's apply logic, called as pysyncobj applies it (no sockets)."""

from __future__ import annotations

from standins.membership import MemberRecord
from standins.raft import KvStore, MemberNode


def test_create_only_decides_once_and_put_overwrites() -> None:
    store = KvStore()
    assert store.put("k", 1, True, _doApply=True) is True
    assert store.put("k", 2, True, _doApply=True) is False
    assert store.get("k") == (True, 1)
    assert store.put("k", 3, False, _doApply=True) is True
    assert store.get("k") == (True, 3)


def test_delete_and_prefix_listing() -> None:
    store = KvStore()
    for key in ("a/1", "a/2", "b/1"):
        store.put(key, key, False, _doApply=True)
    assert store.items("a/") == [("a/1", "a/1"), ("a/2", "a/2")]
    assert store.delete("a/1", _doApply=True) is True
    assert store.delete("a/1", _doApply=True) is False
    assert store.get("a/1") == (False, None)


def test_snapshot_holds_data_not_the_lock() -> None:
    store = KvStore()
    store.put("k", {"v": 1}, False, _doApply=True)
    assert store._serialize() == {"_data": {"k": {"v": 1}}}


def test_member_node_carries_id_and_api_url_and_compares_by_address() -> None:
    record = MemberRecord("node04", "127.0.1.4:2380", "http://127.0.1.4:2379")
    node = MemberNode(record)
    assert node.record() == record
    assert node == MemberNode(MemberRecord("other", "127.0.1.4:2380", ""))
    import pickle

    assert pickle.loads(pickle.dumps(node)).record() == record
