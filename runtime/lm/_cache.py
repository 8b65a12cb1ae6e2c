"""The response cache: an in-memory LRU in front of an optional SQLite file.

Compiling a program replays the same LM requests many times (every optimizer trial, every
re-run of ``castlm compile``), so answers are cached by the hash of the whole request. The disk
layer is shared by concurrent threads and processes (parallel trials, two terminals): SQLite in
WAL mode gives readers that never block and writes that are atomic, so a process killed in the
middle of a write leaves the file intact. A cache must never stop a build, so a corrupt or
unreadable file is reported once and then ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._lm import LMResponse, ToolCall, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""
_BUSY_TIMEOUT_S = 10.0

# sqlite3 is imported where a disk cache is used: it loads a 1 MiB library, and emitted
# packages import this module whether or not they ever cache to disk.
if TYPE_CHECKING:
    import sqlite3

    _Statement = Callable[[sqlite3.Connection], sqlite3.Cursor]


class CacheWarning(UserWarning):
    """The on-disk LM cache could not be used; castlm continues with memory only."""


class LMCache:
    """A thread- and process-safe cache of :class:`LMResponse` keyed by request hash.

    ``path=None`` keeps everything in memory. ``memory_size`` bounds the in-memory LRU (the
    disk layer is unbounded; delete the file to reclaim it). ``enabled=False`` turns the cache
    into a no-op without losing what is stored.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        memory_size: int = 4096,
        enabled: bool = True,
    ) -> None:
        self.path: Path | None = Path(path) if path is not None else None
        self.memory_size = memory_size
        self.enabled = enabled
        self._init_transient()

    def _init_transient(self) -> None:
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, LMResponse] = OrderedDict()
        self._conn: sqlite3.Connection | None = None
        self._conn_pid: int | None = None
        self._disk_broken = False

    @classmethod
    def default(cls, project_dir: str | Path, **kwargs: Any) -> LMCache:
        """The project's cache file, ``<project_dir>/.castlm/cache.sqlite``."""
        return cls(Path(project_dir) / ".castlm" / "cache.sqlite", **kwargs)

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "memory"
        return f"LMCache({where!r}, memory_size={self.memory_size}, enabled={self.enabled})"

    # Connections and locks cannot cross processes: a pickled cache reopens its file lazily.
    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "memory_size": self.memory_size, "enabled": self.enabled}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_transient()

    # -- the ResponseCache protocol --------------------------------------------------------
    def get(self, key: str) -> LMResponse | None:
        if not self.enabled:
            return None
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit
            hit = self._disk_get(key)
            if hit is not None:
                self._remember(key, hit)
            return hit

    def put(self, key: str, response: LMResponse) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._remember(key, response)
            self._disk_put(key, response)

    # -- maintenance -----------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every entry, in memory and on disk."""
        with self._lock:
            self._memory.clear()
            self._disk_run(lambda conn: conn.execute("DELETE FROM responses"))

    def close(self) -> None:
        """Close the SQLite connection (a later call reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def size(self) -> int:
        """Entries on disk when there is a usable file, else entries in memory.

        (Not ``__len__``: an empty cache must stay truthy for ``cache or default`` idioms.)
        """
        with self._lock:
            row = self._disk_run(lambda conn: conn.execute("SELECT COUNT(*) FROM responses"))
            return int(row[0]) if row is not None else len(self._memory)

    @property
    def disk_available(self) -> bool:
        """Whether entries reach the file (false without a path or after a reported failure)."""
        with self._lock:
            return self._connection() is not None

    # -- memory layer ----------------------------------------------------------------------
    def _remember(self, key: str, response: LMResponse) -> None:
        if self.memory_size <= 0:
            return
        self._memory[key] = response
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_size:
            self._memory.popitem(last=False)

    # -- disk layer (every method runs under self._lock) -----------------------------------
    def _disk_get(self, key: str) -> LMResponse | None:
        row = self._disk_run(
            lambda conn: conn.execute("SELECT value FROM responses WHERE key = ?", (key,))
        )
        return _decode(row[0]) if row is not None else None

    def _disk_put(self, key: str, response: LMResponse) -> None:
        value = _encode(response)
        self._disk_run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                (key, value, time.time()),
            )
        )

    def _disk_run(self, statement: _Statement) -> tuple[Any, ...] | None:
        """Run one statement in its own short transaction; return its first row, if any.

        A busy database (another process holding the write lock past the timeout) costs one
        cache miss or one unsaved entry; any other SQLite failure switches the disk layer off.
        """
        conn = self._connection()
        if conn is None:
            return None
        import sqlite3

        try:
            with conn:
                row: tuple[Any, ...] | None = statement(conn).fetchone()
                return row
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                return None
            self._give_up_disk(exc)
        except sqlite3.Error as exc:
            self._give_up_disk(exc)
        return None

    def _connection(self) -> sqlite3.Connection | None:
        if self.path is None or self._disk_broken:
            return None
        if self._conn is not None and self._conn_pid == os.getpid():
            return self._conn
        # A connection inherited through fork() must not be used by the child.
        self._conn = None
        import sqlite3

        try:
            self._conn = _open(self.path)
        except (sqlite3.Error, OSError) as exc:
            self._give_up_disk(exc)
            return None
        self._conn_pid = os.getpid()
        return self._conn

    def _give_up_disk(self, exc: BaseException) -> None:
        self._disk_broken = True
        if self._conn is not None:
            import sqlite3

            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        warnings.warn(
            f"castlm cannot use the LM cache file {self.path} ({type(exc).__name__}: {exc}); "
            f"continuing with an in-memory cache only. If the file is corrupt, delete it "
            f"(rm {self.path}) and castlm will rebuild it.",
            CacheWarning,
            stacklevel=2,
        )


def _open(path: Path) -> sqlite3.Connection:
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    # One connection shared by this object's threads, serialized by LMCache._lock.
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(conn)
        # NORMAL is durable against process crashes in WAL mode; only power loss can drop
        # the latest commits, which for a cache just means a few repeated LM calls.
        conn.execute("PRAGMA synchronous = NORMAL")
        with conn:
            conn.execute(_SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to write-ahead logging. The switch needs an exclusive lock, and SQLite reports
    "database is locked" at once, without waiting, when two processes race to make it; a
    worker that lost the race retries instead of giving up the disk cache."""
    import sqlite3

    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _encode(response: LMResponse) -> str:
    entry: dict[str, object] = {
        "text": response.text,
        "model": response.model,
        "usage": {
            "prompt_tokens": response.usage.prompt_tokens,
            "completion_tokens": response.usage.completion_tokens,
        },
        "finish_reason": response.finish_reason,
    }
    if response.tool_calls:  # only then, so entries without calls read as before
        entry["tool_calls"] = [[c.id, c.name, c.arguments] for c in response.tool_calls]
    return json.dumps(entry, ensure_ascii=False)


def _decode(value: object) -> LMResponse | None:
    """An entry back as a response; ``None`` (a miss) for anything unreadable."""
    try:
        data = json.loads(str(value))
        usage: dict[str, Any] = data.get("usage") or {}
        return LMResponse(
            text=str(data["text"]),
            model=str(data["model"]),
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            finish_reason=finish if isinstance(finish := data.get("finish_reason"), str) else None,
            tool_calls=tuple(
                ToolCall(str(name), str(arguments), str(call_id))
                for call_id, name, arguments in data.get("tool_calls") or ()
            ),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
