"""LMCache: memory LRU, SQLite persistence, threads, processes and damaged files."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sqlite3
import threading
import warnings
from pathlib import Path

import pytest
from castlm import LM, LMRequest, LMResponse, Usage
from castlm.lm._cache import CacheWarning, LMCache


def response(i: int) -> LMResponse:
    return LMResponse(f"answer {i} ✓", "m", Usage(i, 2 * i), "stop")


def key(i: int) -> str:
    return LMRequest("m", ({"role": "user", "content": str(i)},)).cache_key("ns")


class CountingLM(LM):
    """An LM whose answers are free to compute, so the test can count real calls."""

    def _send(self, request: LMRequest) -> LMResponse:
        return LMResponse(f"echo {request.messages[-1]['content']}", self.model, Usage(1, 1))


# -- memory layer -------------------------------------------------------------------------


def test_memory_roundtrip_and_miss() -> None:
    cache = LMCache()
    assert cache.get(key(1)) is None
    cache.put(key(1), response(1))
    assert cache.get(key(1)) == response(1)
    assert cache.size() == 1 and not cache.disk_available


def test_lru_evicts_least_recently_used() -> None:
    cache = LMCache(memory_size=2)
    cache.put(key(1), response(1))
    cache.put(key(2), response(2))
    assert cache.get(key(1)) is not None  # 1 is now the most recently used
    cache.put(key(3), response(3))
    assert cache.get(key(2)) is None
    assert cache.get(key(1)) == response(1) and cache.get(key(3)) == response(3)


def test_disabled_cache_is_a_no_op_that_keeps_entries() -> None:
    cache = LMCache()
    cache.put(key(1), response(1))
    cache.enabled = False
    assert cache.get(key(1)) is None
    cache.put(key(2), response(2))
    cache.enabled = True
    assert cache.get(key(1)) == response(1) and cache.get(key(2)) is None


# -- disk layer ---------------------------------------------------------------------------


def test_entries_persist_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    first = LMCache(path)
    for i in range(5):
        first.put(key(i), response(i))
    first.close()
    second = LMCache(path)
    assert [second.get(key(i)) for i in range(5)] == [response(i) for i in range(5)]
    assert second.size() == 5 and second.disk_available


def test_disk_serves_what_memory_evicted(tmp_path: Path) -> None:
    cache = LMCache(tmp_path / "c.sqlite", memory_size=1)
    cache.put(key(1), response(1))
    cache.put(key(2), response(2))
    assert cache.get(key(1)) == response(1)


def test_default_location(tmp_path: Path) -> None:
    cache = LMCache.default(tmp_path, memory_size=3)
    assert cache.path == tmp_path / ".castlm" / "cache.sqlite"
    cache.put(key(1), response(1))
    assert cache.path.is_file() and cache.memory_size == 3


def test_clear_forgets_memory_and_disk(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = LMCache(path)
    cache.put(key(1), response(1))
    cache.clear()
    assert cache.get(key(1)) is None and LMCache(path).get(key(1)) is None


def test_file_uses_wal_and_stores_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    LMCache(path).put(key(7), response(7))
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        [(value,)] = conn.execute("SELECT value FROM responses").fetchall()
    assert '"finish_reason": "stop"' in value and "answer 7" in value


def test_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    LMCache(path).put(key(1), response(1))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE responses SET value = 'not json'")
    assert LMCache(path).get(key(1)) is None


def test_pickled_cache_reopens_its_file(tmp_path: Path) -> None:
    cache = LMCache(tmp_path / "c.sqlite")
    cache.put(key(1), response(1))
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.get(key(1)) == response(1)


def test_lm_rerun_hits_the_persistent_cache(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    request = LMRequest("m", ({"role": "user", "content": "hi"},))
    first = CountingLM("m", cache=LMCache(path))
    first.complete(request)
    second = CountingLM("m", cache=LMCache(path))  # e.g. the next `castlm compile`
    hit = second.complete(request)
    assert hit.cached and hit.text == "echo hi"
    assert (second.stats.calls, second.stats.cache_hits) == (0, 1)


# -- damaged or unusable files ------------------------------------------------------------


def test_corrupt_file_warns_once_then_works_from_memory(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    garbage = b"this is not a sqlite database\x00\xff" * 200
    path.write_bytes(garbage)
    cache = LMCache(path)
    with pytest.warns(CacheWarning) as caught:
        cache.put(key(1), response(1))
    message = str(caught[0].message)
    assert str(path) in message and "delete" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would fail the test
        assert cache.get(key(1)) == response(1)
        cache.put(key(2), response(2))
        assert cache.get(key(2)) == response(2)
    assert not cache.disk_available
    assert path.read_bytes() == garbage  # left for the user to inspect or delete


def test_unwritable_location_warns_and_works_from_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cache = LMCache(blocker / "cache.sqlite")  # its parent "directory" is a file
    with pytest.warns(CacheWarning, match="in-memory cache only"):
        assert cache.get(key(1)) is None
    cache.put(key(1), response(1))
    assert cache.get(key(1)) == response(1)


# -- concurrency --------------------------------------------------------------------------


def test_threads_hammering_one_cache(tmp_path: Path) -> None:
    cache = LMCache(tmp_path / "c.sqlite", memory_size=16)  # small: most reads go to disk
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(60):
                n = worker * 1000 + i
                cache.put(key(n), response(n))
                assert cache.get(key(n)) == response(n)
                cache.get(key((worker + 1) % 8 * 1000 + i))  # a neighbour's, hit or miss
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.size() == 8 * 60
    fresh = LMCache(cache.path)
    assert all(fresh.get(key(w * 1000 + 59)) == response(w * 1000 + 59) for w in range(8))


def _child_writer(path: str, first: int, count: int, die: bool) -> None:
    """Runs in a spawned process: check the parent's entries, add its own, maybe die hard."""
    cache = LMCache(path, memory_size=0)
    if cache.get(key(0)) != response(0):
        os._exit(2)
    for i in range(first, first + count):
        cache.put(key(i), response(i))
    if die:
        os._exit(0)  # no close(), no cleanup: committed entries must survive
    cache.close()


def test_processes_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    parent = LMCache(path)
    parent.put(key(0), response(0))
    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(target=_child_writer, args=(str(path), 100, 50, False)),
        spawn.Process(target=_child_writer, args=(str(path), 200, 50, True)),
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [c.exitcode for c in children] == [0, 0]
    assert parent.size() == 101
    for i in (*range(100, 150), *range(200, 250)):
        assert parent.get(key(i)) == response(i)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
