"""Sending: worker threads send the tasks (an item, a customer's profile), this thread feeds them and records.

The main thread owns the engine: it reads the batch a page at a time, hands tasks to
``concurrency`` workers through a bounded queue, and writes each answer to the push ledger the moment
it arrives (a push killed at any instant loses at most the answers in flight). A task yields its
answers as they come (a profile takes several requests); recording one may add tasks (an item's
first delivery starts its customer's profile step), sent before the rest of the batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from extract.context import Progress, duration
from extract.errors import AuthError, ExtractError
from extract.http_client import HttpClient, HttpStatusError
from gladly_import.push import ledger
from gladly_import.push.rules import ITEMS_PATH

REFUSAL_STATUSES = frozenset({400, 413, 422})  # Gladly says no to this request: record it, go on
ANSWER_STATUSES = REFUSAL_STATUSES | {409}
PROGRESS_SECONDS = 5.0


@dataclass
class Answer:
    key: str                  # the item id, or the customer's email for a profile answer
    status: str               # item: created | already_present | refused | failed; profile: see profiles.py
    http_status: int | None = None
    code: str | None = None
    detail: str | None = None
    fatal: str | None = None  # set when the whole push must stop
    kind: str = "item"
    final: bool = True        # the task's last answer
    extra: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    def run(self, client: HttpClient) -> Iterator[Answer]: ...


def gladly_error(body: Any) -> tuple[str | None, str | None]:
    """(code, 'attr: detail') of Gladly's first error, from {"errors":[{"attr","code","detail"}]}."""
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code") if isinstance(first.get("code"), str) else None
    parts = [str(first[k]) for k in ("attr", "detail") if isinstance(first.get(k), str) and first[k]]
    details = [e.get("detail") for e in errors[1:] if isinstance(e, dict) and isinstance(e.get("detail"), str)] \
        if isinstance(errors, list) else []
    detail = ": ".join(parts) + ("".join(f"; {d}" for d in details) if details else "")
    return code, " ".join(detail.split())[:500] or None


def failed(key: str, error: Exception, kind: str = "item") -> Answer:
    """An answer that stops the push: a credential refused, an unexpected status, retries exhausted."""
    if isinstance(error, AuthError):
        return Answer(key, "failed", fatal=str(error), kind=kind)
    if isinstance(error, HttpStatusError):
        return Answer(key, "failed", error.status, fatal=str(error), kind=kind)
    if isinstance(error, ExtractError):  # retries exhausted: unanswered, sent again by the next push
        return Answer(key, "failed", fatal=f"no answer for {key}: {error}", kind=kind)
    return Answer(key, "failed", fatal=f"unexpected error sending {key}: {error!r}", kind=kind)


@dataclass
class ItemTask:
    body: dict[str, Any]
    contact: dict[str, Any] = field(default_factory=dict)  # the customer's name and phone in the batch

    def run(self, client: HttpClient) -> Iterator[Answer]:
        item_id = self.body["id"]
        try:
            answer = client.request_json("POST", ITEMS_PATH, body=self.body, ok_statuses=ANSWER_STATUSES)
        except Exception as error:  # noqa: BLE001 - a failure stops the push, never loses the item quietly
            yield failed(item_id, error)
            return
        extra = {"email": self.body["customer"]["emailAddress"], **self.contact}
        if answer.status == 409:
            yield Answer(item_id, ledger.ALREADY_PRESENT, 409, *gladly_error(answer.body), extra=extra)
        elif answer.status in REFUSAL_STATUSES:
            code, detail = gladly_error(answer.body)
            yield Answer(item_id, ledger.REFUSED, answer.status, code or f"http_{answer.status}", detail, extra=extra)
        else:
            body = answer.body if isinstance(answer.body, dict) else {}
            customer_id = body.get("customerId") if isinstance(body.get("customerId"), str) else None
            yield Answer(item_id, ledger.CREATED, answer.status, extra={**extra, "customer_id": customer_id})


class RateMeter:
    """Answers a second over the last 30 seconds, for the progress line."""

    def __init__(self, span: float = 30.0) -> None:
        self.span = span
        self.times: deque[float] = deque()

    def note(self, moment: float) -> None:
        self.times.append(moment)

    def rate(self, now: float) -> float:
        while self.times and now - self.times[0] > self.span:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-6)


class Sender:
    """Feeds ``tasks`` (and the tasks ``record`` adds) to worker threads; ``record`` sees every answer here."""

    def __init__(self, client: HttpClient, concurrency: int, tasks: Iterable[Task],
                 record: Callable[[Answer], Iterable[Task]], progress_line: Callable[[float], str]) -> None:
        self.client = client
        self.concurrency = concurrency
        self.tasks = iter(tasks)
        self.record = record
        self.progress_line = progress_line
        self.urgent: deque[Task] = deque()
        self.stop = threading.Event()
        self.fatal: str | None = None
        self.in_flight = 0
        self.work: queue.Queue[Task | None] = queue.Queue(maxsize=concurrency * 2)
        self.answers: queue.Queue[Answer] = queue.Queue()
        self.progress = Progress("push", interval=PROGRESS_SECONDS)

    def run(self) -> None:
        workers = [threading.Thread(target=self._work, name=f"push-{n}", daemon=True) for n in range(self.concurrency)]
        for worker in workers:
            worker.start()
        try:
            exhausted = False
            while True:
                exhausted = self._feed(exhausted)
                if (exhausted or self.stop.is_set()) and self.in_flight == 0 and not (self.urgent and not self.stop.is_set()):
                    return
                try:
                    answer = self.answers.get(timeout=0.5)
                except queue.Empty:
                    self.progress.update(self.progress_line(time.monotonic()))
                    continue
                self._take(answer)
                self.progress.update(self.progress_line(time.monotonic()))
        except KeyboardInterrupt:
            self.stop.set()
            self._drain()
            raise
        finally:
            self.stop.set()
            for _ in workers:
                self.work.put(None)

    def _feed(self, exhausted: bool) -> bool:
        """Queue tasks while there is room (added ones first); True once the batch's tasks are all handed out."""
        while not self.stop.is_set():
            if self.urgent:
                task = self.urgent[0]
            elif exhausted:
                return True
            else:
                task = next(self.tasks, None)
                if task is None:
                    exhausted = True
                    continue
                self.urgent.append(task)
            try:
                self.work.put_nowait(task)
            except queue.Full:
                return exhausted
            self.urgent.popleft()
            self.in_flight += 1
        return exhausted

    def _take(self, answer: Answer) -> None:
        if answer.final:
            self.in_flight -= 1
        if answer.fatal:
            self.fatal = self.fatal or answer.fatal
            self.stop.set()
            return
        if answer.status == "skipped":
            return
        self.urgent.extend(self.record(answer))

    def _drain(self) -> None:
        """After Ctrl-C: record the answers of the requests in flight (each bounded by the client's deadline)."""
        deadline = time.monotonic() + self.client.deadline + 5
        while self.in_flight > 0 and time.monotonic() < deadline:
            try:
                self._take(self.answers.get(timeout=0.2))
            except queue.Empty:
                continue

    def _work(self) -> None:
        while True:
            task = self.work.get()
            if task is None:
                return
            if self.stop.is_set():  # left unsent: the next push sends it
                self.answers.put(Answer("", "skipped"))
                continue
            try:
                for answer in task.run(self.client):
                    self.answers.put(answer)
                    if answer.final:
                        break
                else:
                    self.answers.put(Answer("", "skipped"))
            except Exception as error:  # noqa: BLE001 - a bug must stop the push, never hang it
                self.answers.put(failed(getattr(task, "key", "a task"), error))


def eta(left: int, rate: float) -> str:
    return f", about {duration(left / rate)} left" if rate > 0 and left else ""


def count_refusal(counter: Counter[str], answer: Answer) -> None:
    counter[f"{answer.code or 'refused'}: {answer.detail}" if answer.detail else (answer.code or "refused")] += 1
