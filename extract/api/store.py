"""What an API extraction keeps between runs, under its state folder: spools and one state file.

- ``Spool``: one JSON Lines file per kind of record (``messages.jsonl``, ``customers.jsonl``, ...),
  a line ``[where, item]`` per record, appended as pages arrive, skipping ids already spooled
  (that is how a resumed run, an overlapping delta or two listings of the same records never
  land a record twice). A line cut short by a kill is dropped when the spool is reopened.
- ``State``: ``state.json``, written atomically (a temporary file, fsynced, renamed, the folder
  fsynced) after the spools it counts on are fsynced: what each reading has done, whether the
  extraction is complete, and its watermarks for a delta. It belongs to one account and one set
  of streams (``identity``); a state of another is never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

STATE_VERSION = 2


def _fingerprint(value: str) -> int:
    """8 bytes of a hash: a set of a million ids takes ~60 MB instead of ~120 MB of strings."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def content_key(item: Any) -> str:
    return "sha1:" + hashlib.sha1(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()


class Spool:
    """Records of one kind, appended as JSON lines ``[where, item]``, each id once. Thread-safe."""

    def __init__(self, path: Path, key: Callable[[Any], str | None],
                 on_recovered: Callable[[Any], None] | None = None) -> None:
        self.path = path
        self._key = key
        self._seen: set[int] = set()
        self._lock = threading.Lock()
        self.items = 0
        if path.exists():
            self._recover(on_recovered)
        self._handle = path.open("a", encoding="utf-8")

    def key_of(self, item: Any) -> str:
        key = self._key(item)
        return f"id:{key}" if key is not None else content_key(item)

    def _recover(self, on_recovered: Callable[[Any], None] | None) -> None:
        good_bytes = 0
        with self.path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                try:
                    _, item = json.loads(line)
                except (ValueError, TypeError):
                    break
                good_bytes += len(line)
                self._seen.add(_fingerprint(self.key_of(item)))
                self.items += 1
                if on_recovered is not None:
                    on_recovered(item)
        with self.path.open("r+b") as handle:
            handle.truncate(good_bytes)

    def __contains__(self, item: Any) -> bool:
        return _fingerprint(self.key_of(item)) in self._seen

    def add(self, where: str, item: Any) -> bool:
        """Spool ``item`` unless its id is spooled already; whether it was new."""
        line = json.dumps([where, item], ensure_ascii=False) + "\n"
        fingerprint = _fingerprint(self.key_of(item))
        with self._lock:
            if fingerprint in self._seen:
                return False
            self._seen.add(fingerprint)
            self._handle.write(line)
            self.items += 1
        return True

    def sync(self) -> None:
        """Make what was appended durable: done before any state that counts on it is saved."""
        with self._lock:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            self._handle.close()

    @staticmethod
    def count(path: Path) -> int:
        """Records spooled in a closed spool (whole lines)."""
        if not path.exists():
            return 0
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.endswith(b"\n"))

    @staticmethod
    def read(path: Path) -> Iterator[tuple[str, Any]]:
        """Every ``(where, item)`` spooled, in order (the file as the last sync left it)."""
        for _, where, item in Spool.entries(path):
            yield where, item

    @staticmethod
    def entries(path: Path) -> Iterator[tuple[int, str, Any]]:
        """Every ``(offset, where, item)`` spooled, in order: the offset reads it again (``Spool.at``)."""
        if not path.exists():
            return
        with path.open("rb") as handle:
            offset = 0
            for line in handle:
                if not line.endswith(b"\n"):
                    return
                where, item = json.loads(line)
                yield offset, where, item
                offset += len(line)

    @staticmethod
    def at(handle: BinaryIO, offset: int) -> tuple[str, Any]:
        """The ``(where, item)`` spooled at ``offset`` of an open spool file (``entries`` gave the offset)."""
        handle.seek(offset)
        where, item = json.loads(handle.readline())
        return where, item


class State:
    """``state.json`` of one platform: the plan of this run and the progress of each reading."""

    def __init__(self, folder: Path, identity: str) -> None:
        self.folder = folder
        self.path = folder / "state.json"
        self.identity = identity
        self.data: dict[str, Any] = {}
        self.action = "fresh"

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, mode: str, reuse_completed: bool = False) -> str:
        """Decide what this run does: ``self.action`` is fresh, resume, reuse or delta; returns it in words."""
        saved = self._load()
        if saved is None:
            self._start("full")
            return ("delta: no previous complete extraction: extracting everything" if mode == "delta"
                    else "extracting everything")
        complete = saved["status"] == "complete"
        if mode == "delta":
            if complete:
                self.data = saved
                self.data.update(status="running", kind="delta", delta=saved.get("deltas", 0) + 1, readings={})
                self.action = "delta"
                self.save()
                return f"delta {self.data['delta']} after the extraction of {saved.get('completed_at', '?')}"
            self.data, self.action = saved, "resume"
            what = f"delta {saved.get('delta')}" if saved.get("kind") == "delta" else "extraction"
            return f"resuming the interrupted {what}"
        if complete and reuse_completed:
            self.data, self.action = saved, "reuse"
            return (f"reuse_completed: true: re-using the extraction completed {saved.get('completed_at', '?')};"
                    " no request is made")
        if complete or saved.get("kind") == "delta":
            self._start("full")
            return "the last extraction completed: a full run extracts the account afresh"
        self.data, self.action = saved, "resume"
        return "resuming the interrupted extraction"

    def _start(self, kind: str) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data = {"version": STATE_VERSION, "identity": self.identity, "status": "running", "kind": kind,
                     "readings": {}, "watermarks": {}, "deltas": 0, "started_at": now_text()}
        self.action = "fresh"
        self.save()

    @property
    def complete(self) -> bool:
        return self.data.get("status") == "complete"

    @property
    def delta(self) -> int | None:
        return self.data.get("delta") if self.data.get("kind") == "delta" else None

    def reading(self, name: str) -> dict[str, Any]:
        """The saved progress of one reading (created empty), changed in place by its paginator."""
        return self.data["readings"].setdefault(name, {})

    def watermark(self, spool: str) -> dict[str, Any] | None:
        mark = self.data.get("watermarks", {}).get(spool)
        return mark if isinstance(mark, dict) else None

    def finish(self, watermarks: dict[str, dict[str, Any] | None]) -> None:
        """The extraction is complete and landed: keep the spools and the newest record of each."""
        for name, mark in watermarks.items():
            if mark is not None:
                self.data["watermarks"][name] = mark
        if self.data.get("kind") == "delta":
            self.data["deltas"] = self.data.get("delta", 0)
        self.data.update(status="complete", kind="full", completed_at=now_text())
        self.data.pop("delta", None)
        self.save()

    def spool_path(self, name: str) -> Path:
        return self.folder / f"{name}.jsonl"

    # -- file -----------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any] | None:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("version") != STATE_VERSION:
            return None
        if saved.get("identity") != self.identity or saved.get("status") not in ("running", "complete"):
            return None
        if not isinstance(saved.get("readings"), dict) or not isinstance(saved.get("watermarks"), dict):
            return None
        return saved

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w", encoding="utf-8") as handle:
            json.dump(self.data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.path)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
