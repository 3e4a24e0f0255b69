"""Persistent jobs (searches and exports): ids, states, timestamps, results, a worker pool.

Layout under the state directory (``--home``; never inside an archive)::

    jobs/<kind>/<JobId>/job.json      the Job: state, timestamps, request echo, owner
    jobs/<kind>/<JobId>/<name>.json   results (a search's rows), written before COMPLETED
    jobs/<kind>/<JobId>/lock          flock taken around every state change
    owners/<token>.lock               held (flock) by each live process that runs jobs

Every file is written to a temporary name, fsynced and renamed, so a crash leaves the old or the
new version. A job records the token of the process that runs it; a QUEUED or RUNNING job whose
owner no longer holds its lock was cut off by a crash or a kill, and is FAILED from then on, with
an ErrorMessage saying so (SEMANTICS §6). Several processes (a server, CLI commands) may share a
state directory: state changes re-read ``job.json`` under its lock, so a StopArchiveSearch from
one process is seen by the worker of another.

A kind declares its working states (search: RUNNING; export: PREPROCESSING, PROCESSING); the work
function enters them in order through its JobContext, and the runner takes care of QUEUED, the
terminal states, cancellation and failures.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import MMArchiveError

QUEUED = "QUEUED"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TERMINAL_STATES = frozenset({COMPLETED, FAILED, CANCELLED})
JOB_FORMAT = 1
JOB_FILE = "job.json"
LOCK_FILE = "lock"
JOB_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)

# Test-only: with MMARCHIVE_TEST_HOLD_JOBS=1 a job waits in each working state it enters until
# the file <home>/release-holds exists (every hold) or <home>/release-holds.<STATE> does (holds in
# that state only), or the job is stopped, so a Stop test never races the worker and a test can
# see an export in PREPROCESSING, then in PROCESSING.
HOLD_ENV = "MMARCHIVE_TEST_HOLD_JOBS"
RELEASE_FILE = "release-holds"
HOLD_POLL_SECONDS = 0.02
# A job's work asks should_stop() per unit of work (an export: per message); the job file is read
# at most this often, for a stop sent by another process. A stop of this process is seen at once.
STOP_POLL_SECONDS = 0.25


def write_json_atomic(path: Path, obj: object) -> None:
    """Write JSON to a temporary file, fsync it and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class Job:
    """One job as stored in ``job.json``. Times are epoch nanoseconds."""

    kind: str
    job_id: str
    archive_id: str
    state: str
    submitted_ns: int
    owner: str
    request: dict[str, Any] = field(default_factory=dict)
    completed_ns: int | None = None
    error_message: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    def sort_key(self) -> tuple[int, str]:
        return self.submitted_ns, self.job_id

    def to_json(self) -> dict[str, Any]:
        return {"format": JOB_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Job:
        fields = {k: v for k, v in raw.items() if k != "format"}
        return cls(**fields)


class JobCancelled(Exception):
    """The job was stopped (or failed from outside) while its work ran."""


class ProcessLease:
    """This process's token, proven alive by an flock that dies with the process."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "owners"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.token = f"{os.getpid()}-{secrets.token_hex(6)}"
        self._file = open(self.dir / f"{self.token}.lock", "a+b")  # noqa: SIM115 - held for life
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for stale in self.dir.glob("*.lock"):
            self.is_alive(stale.name.removesuffix(".lock"))  # removes the files of dead ones

    def is_alive(self, token: str) -> bool:
        """Whether the process holding ``token`` still runs (flock is freed at its death)."""
        if token == self.token:
            return True
        path = self.dir / f"{token}.lock"
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return False
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
        with contextlib.suppress(OSError):
            path.unlink()
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            (self.dir / f"{self.token}.lock").unlink()
        self._file.close()


class JobStore:
    """The jobs of one kind in a state directory; safe across threads and processes."""

    def __init__(self, home: Path, kind: str, noun: str, lease: ProcessLease) -> None:
        self.kind = kind
        self.noun = noun  # "search" / "export", for messages
        self.dir = home / "jobs" / kind
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lease = lease
        self._lock = threading.Lock()
        self._clock_ns = 0
        # Finished jobs never change again, so they are read from disk once; unfinished ones are
        # re-read on every look, since another process may stop them.
        self._cache: dict[str, Job] = {}

    # -- time and ids ----------------------------------------------------------------------
    def now_ns(self) -> int:
        """Wall-clock nanoseconds, strictly increasing in this store (keeps newest-first exact)."""
        with self._lock:
            self._clock_ns = max(time.time_ns(), self._clock_ns + 1)
            return self._clock_ns

    # -- reading ---------------------------------------------------------------------------
    def _read(self, job_id: str) -> Job | None:
        try:
            raw = json.loads((self.dir / job_id / JOB_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            # A job file this version cannot read is reported, not fatal for the others.
            print(f"mmarchive: skipping unreadable job {job_id}: {exc}", file=sys.stderr)
            return None
        return Job.from_json(raw)

    def _is_job_id(self, job_id: str) -> bool:
        # Ids come from requests: only names this store could have made reach the file system.
        return JOB_ID_RE.fullmatch(job_id) is not None

    def get(self, job_id: str) -> Job | None:
        """The job, or None when there is no such job here."""
        if not self._is_job_id(job_id):
            return None
        cached = self._cache.get(job_id)
        if cached is not None and cached.finished:
            return cached
        job = self._read(job_id)
        if job is None:
            return None
        if not job.finished and not self.lease.is_alive(job.owner):
            job = self._fail_orphan(job)
        if job.finished:
            self._cache[job_id] = job
        return job

    def iter_jobs(self) -> Iterator[Job]:
        """Every job of this kind, in no particular order."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            job = self.get(name)
            if job is not None:
                yield job

    def _orphan_message(self, job: Job) -> str:
        pid = job.owner.split("-", 1)[0]
        return (
            f"The mmarchive process (pid {pid}) that ran this {self.noun} stopped before it "
            f"finished; start the {self.noun} again"
        )

    def _fail_orphan(self, job: Job) -> Job:
        updated = self.update(
            job.job_id,
            lambda j: (
                None
                if j.finished or self.lease.is_alive(j.owner)
                else replace(
                    j,
                    state=FAILED,
                    completed_ns=self.now_ns(),
                    error_message=self._orphan_message(j),
                )
            ),
        )
        return updated or job

    # -- writing ---------------------------------------------------------------------------
    def create(self, archive_id: str, request: dict[str, Any]) -> Job:
        """A new QUEUED job owned by this process, on disk before its id is handed out."""
        job = Job(
            kind=self.kind,
            job_id=str(uuid.uuid4()),
            archive_id=archive_id,
            state=QUEUED,
            submitted_ns=self.now_ns(),
            owner=self.lease.token,
            request=request,
        )
        folder = self.dir / job.job_id
        folder.mkdir()
        write_json_atomic(folder / JOB_FILE, job.to_json())
        return job

    @contextlib.contextmanager
    def _locked(self, job_id: str) -> Iterator[None]:
        with open(self.dir / job_id / LOCK_FILE, "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def update(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        """Apply ``change`` to the job as it is on disk, under its lock.

        ``change`` returns the new job, or None to leave it as it is; returns what was written
        (None when nothing was, or when there is no such job).
        """
        if not self._is_job_id(job_id) or not (self.dir / job_id).is_dir():
            return None
        with self._locked(job_id):
            current = self._read(job_id)
            if current is None:
                return None
            new = change(current)
            if new is None:
                return None
            write_json_atomic(self.dir / job_id / JOB_FILE, new.to_json())
        if new.finished:
            self._cache[job_id] = new
        return new

    def advance(self, job_id: str, state: str) -> Job | None:
        """Move an unfinished job to a working state; None when it has finished (stopped)."""
        return self.update(job_id, lambda j: None if j.finished else replace(j, state=state))

    def finish(self, job_id: str, state: str, error_message: str | None = None) -> Job | None:
        """Move an unfinished job to a terminal state; None when it had already finished."""
        assert state in TERMINAL_STATES
        return self.update(
            job_id,
            lambda j: (
                None
                if j.finished
                else replace(
                    j, state=state, completed_ns=self.now_ns(), error_message=error_message
                )
            ),
        )

    # -- results ---------------------------------------------------------------------------
    def write_result(self, job_id: str, name: str, obj: object) -> None:
        write_json_atomic(self.dir / job_id / f"{name}.json", obj)

    def read_result(self, job_id: str, name: str) -> Any:
        return json.loads((self.dir / job_id / f"{name}.json").read_text(encoding="utf-8"))

    def discard_result(self, job_id: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.dir / job_id / f"{name}.json").unlink()

    def fail_orphans(self) -> None:
        """Fail every unfinished job whose process is gone (run at start-up)."""
        for _ in self.iter_jobs():
            pass


class JobContext:
    """What a job's work function sees: enter working states, save results, notice a stop."""

    def __init__(
        self,
        store: JobStore,
        job: Job,
        hold_release: Path | None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.job = job
        self._hold_release = hold_release
        self._stop_event = stop_event or threading.Event()
        self._next_poll = 0.0

    def enter(self, state: str) -> None:
        """Move to the working state ``state``. Raises JobCancelled when the job was stopped."""
        job = self.store.advance(self.job.job_id, state)
        if job is None:
            raise JobCancelled
        self.job = job
        self._hold(state)

    def check(self) -> None:
        """Raises JobCancelled when the job was stopped meanwhile."""
        job = self.store.get(self.job.job_id)
        if job is None or job.finished:
            self._stop_event.set()
            raise JobCancelled

    def should_stop(self) -> bool:
        """Whether the job was stopped: cheap enough to ask once per message.

        A stop in this process sets the runner's event; a stop from another process sharing
        the state directory shows in the job file, read at most every STOP_POLL_SECONDS.
        """
        if self._stop_event.is_set():
            return True
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + STOP_POLL_SECONDS
            try:
                self.check()
            except JobCancelled:
                return True
        return False

    def save(self, name: str, obj: object) -> None:
        self.store.write_result(self.job.job_id, name, obj)

    def _hold(self, state: str) -> None:
        if self._hold_release is None or os.environ.get(HOLD_ENV) != "1":
            return
        for_state = self._hold_release.with_name(f"{self._hold_release.name}.{state}")
        while not (self._hold_release.exists() or for_state.exists()):
            self.check()
            time.sleep(HOLD_POLL_SECONDS)
        self.check()  # a stop sent just before the release still wins


Work = Callable[[JobContext], None]


class JobRunner:
    """Runs jobs of one store in a thread pool (or at once, for CLI commands)."""

    def __init__(
        self,
        store: JobStore,
        *,
        workers: int,
        inline: bool = False,
        hold_release: Path | None = None,
        result_names: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self._inline = inline
        self._hold_release = hold_release
        self._result_names = result_names
        self._executor = (
            None
            if inline
            else ThreadPoolExecutor(workers, thread_name_prefix=f"mmarchive-{store.kind}")
        )
        # The unfinished jobs of this process, each with the event that tells its work to stop.
        self._active: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def active_count(self) -> int:
        """Jobs of this process that are queued or running."""
        with self._lock:
            return len(self._active)

    def submit(self, job: Job, work: Work) -> None:
        """Run ``work`` for ``job``: in the pool, or before returning when inline."""
        with self._lock:
            self._active[job.job_id] = threading.Event()
        if self._executor is None:
            self._run(job, work)
        else:
            self._executor.submit(self._run, job, work)

    def signal_stop(self, job_id: str) -> None:
        """Tell the work of a job of this process that it was stopped (its JobContext's
        should_stop answers True from now on). Call after the store marked it finished."""
        with self._lock:
            event = self._active.get(job_id)
        if event is not None:
            event.set()

    def signal_stop_all(self) -> None:
        """Tell the work of every job of this process to stop (a Ctrl-C of the CLI); the jobs
        end CANCELLED. Takes no lock and only sets events, so it is safe in a signal handler
        (which may interrupt the very thread that holds the lock)."""
        for event in list(self._active.values()):
            event.set()

    def _run(self, job: Job, work: Work) -> None:
        with self._lock:
            event = self._active.get(job.job_id)
        ctx = JobContext(self.store, job, self._hold_release, event)
        try:
            work(ctx)
        except JobCancelled:
            # Stopped from outside (already CANCELLED or FAILED: finish changes nothing), or by
            # signal_stop_all, which marks nothing on disk.
            self.store.finish(job.job_id, CANCELLED)
            self._discard(job.job_id)
        except MMArchiveError as exc:
            self.store.finish(job.job_id, FAILED, exc.message)
        except Exception as exc:
            traceback.print_exc()
            self.store.finish(job.job_id, FAILED, f"Internal error: {type(exc).__name__}: {exc}")
        else:
            if self.store.finish(job.job_id, COMPLETED) is None:
                # Stopped after the work ended: results of a CANCELLED job are never served.
                self._discard(job.job_id)
        finally:
            with self._lock:
                self._active.pop(job.job_id, None)

    def _discard(self, job_id: str) -> None:
        for name in self._result_names:
            self.store.discard_result(job_id, name)

    def shutdown(self, message: str) -> None:
        """Stop taking work; fail this process's unfinished jobs with ``message``."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            active = list(self._active.items())
        for job_id, event in active:
            self.store.finish(job_id, FAILED, message)
            event.set()  # a running export stops at its next message
