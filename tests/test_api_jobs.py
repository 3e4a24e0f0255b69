"""The job store on its own: owners across processes, state changes, results, paging tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.jobs import (
    CANCELLED,
    COMPLETED,
    FAILED,
    JobCancelled,
    JobContext,
    JobRunner,
    JobStore,
    ProcessLease,
)
from api.paging import TOKEN_MESSAGE, paginate
from engine.errors import ValidationException
from tests.conftest import ROOT

OWNER_SCRIPT = """
import sys, time
from pathlib import Path
from api.jobs import JobStore, ProcessLease
store = JobStore(Path(sys.argv[1]), "searches", "search", ProcessLease(Path(sys.argv[1])))
job = store.create("a-1", {"MaxResults": 1})
store.advance(job.job_id, "RUNNING")
print(job.job_id, flush=True)
time.sleep(float(sys.argv[2]))
"""


def owner_process(home: Path, seconds: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(home), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path, "searches", "search", ProcessLease(tmp_path))


def test_a_job_of_a_live_process_stays_running_and_of_a_dead_one_fails(
    tmp_path: Path, store: JobStore
) -> None:
    proc, job_id = owner_process(tmp_path, 30)
    try:
        job = store.get(job_id)
        assert job is not None and job.state == "RUNNING"  # its owner holds its lease
    finally:
        proc.kill()
        proc.wait()
    job = store.get(job_id)
    assert job is not None and job.state == FAILED and job.completed_ns is not None
    assert job.error_message == (
        f"The mmarchive process (pid {proc.pid}) that ran this search stopped before it "
        "finished; start the search again"
    )
    raw = json.loads((tmp_path / "jobs" / "searches" / job_id / "job.json").read_text())
    assert raw["state"] == FAILED  # written back, for every later reader


def test_stop_from_another_store_is_seen_by_the_worker(tmp_path: Path, store: JobStore) -> None:
    other = JobStore(tmp_path, "searches", "search", ProcessLease(tmp_path))
    job = store.create("a-1", {})
    ctx = JobContext(store, job, None)
    ctx.enter("RUNNING")
    other.finish(job.job_id, CANCELLED)
    with pytest.raises(JobCancelled):
        ctx.check()
    assert store.finish(job.job_id, COMPLETED) is None  # a finished job never changes


def test_runner_discards_results_of_a_stopped_job(store: JobStore) -> None:
    runner = JobRunner(store, workers=1, inline=True, result_names=("rows",))
    job = store.create("a-1", {})

    def work(ctx: JobContext) -> None:
        ctx.enter("RUNNING")
        ctx.save("rows", {"Rows": [1]})
        store.finish(job.job_id, CANCELLED)  # stopped after the work was done

    runner.submit(job, work)
    assert store.get(job.job_id).state == CANCELLED  # type: ignore[union-attr]
    assert not (store.dir / job.job_id / "rows.json").exists()


def test_runner_records_failures(store: JobStore) -> None:
    runner = JobRunner(store, workers=1, inline=True)
    job = store.create("a-1", {})

    def work(ctx: JobContext) -> None:
        ctx.enter("RUNNING")
        raise ValidationException("Filters: broken")

    runner.submit(job, work)
    failed = store.get(job.job_id)
    assert failed is not None and (failed.state, failed.error_message) == (
        FAILED,
        "Filters: broken",
    )


def test_pool_runs_in_the_background_and_shutdown_fails_leftovers(
    tmp_path: Path, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMARCHIVE_TEST_HOLD_JOBS", "1")
    runner = JobRunner(store, workers=1, hold_release=tmp_path / "release-holds")
    job = store.create("a-1", {})
    runner.submit(job, lambda ctx: ctx.enter("RUNNING"))
    deadline = time.monotonic() + 5
    while store.get(job.job_id).state != "RUNNING":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert runner.active_count() == 1
    runner.shutdown("stopped for the test")
    stopped = store.get(job.job_id)
    assert stopped is not None and (stopped.state, stopped.error_message) == (
        FAILED,
        "stopped for the test",
    )


@pytest.mark.parametrize("job_id", ["../x", "", "a/b", ".hidden", "x" * 65, "a\x00b"])
def test_ids_that_are_no_job_never_reach_the_file_system(store: JobStore, job_id: str) -> None:
    assert store.get(job_id) is None
    assert store.update(job_id, lambda j: j) is None


def test_paging_tokens() -> None:
    items = [(i, f"id{i}") for i in range(7)]
    page, token = paginate(items, lambda x: x, scope="s", page_size=3, next_token=None)
    assert page == items[::-1][:3] and token
    items.append((99, "new"))  # arrives between pages: not in the older pages
    page2, token2 = paginate(items, lambda x: x, scope="s", page_size=3, next_token=token)
    assert page2 == [(3, "id3"), (2, "id2"), (1, "id1")]
    page3, token3 = paginate(items, lambda x: x, scope="s", page_size=3, next_token=token2)
    assert page3 == [(0, "id0")] and token3 is None
    for bad in ("garbage", token.swapcase()):
        with pytest.raises(ValidationException, match=TOKEN_MESSAGE):
            paginate(items, lambda x: x, scope="s", page_size=3, next_token=bad)
    with pytest.raises(ValidationException, match=TOKEN_MESSAGE):
        paginate(items, lambda x: x, scope="another list", page_size=3, next_token=token)


def test_should_stop_hears_this_process_at_once_and_others_by_polling(
    tmp_path: Path, store: JobStore
) -> None:
    runner = JobRunner(store, workers=1, inline=True)
    seen: list[bool] = []

    def work(ctx: JobContext) -> None:
        ctx.enter("PROCESSING")
        seen.append(ctx.should_stop())
        store.finish(ctx.job.job_id, CANCELLED)
        runner.signal_stop(ctx.job.job_id)  # as StopArchiveExport does
        seen.append(ctx.should_stop())

    runner.submit(store.create("a-1", {}), work)
    assert seen == [False, True]

    # A stop written by another process's store: seen within STOP_POLL_SECONDS.
    other = JobStore(tmp_path, "searches", "search", ProcessLease(tmp_path))
    job = store.create("a-1", {})
    ctx = JobContext(store, job, None)
    ctx.enter("PROCESSING")
    assert not ctx.should_stop()
    other.finish(job.job_id, CANCELLED)
    deadline = time.monotonic() + 5
    while not ctx.should_stop():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_hold_waits_in_each_working_state_until_released(
    tmp_path: Path, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMARCHIVE_TEST_HOLD_JOBS", "1")
    runner = JobRunner(store, workers=1, hold_release=tmp_path / "release-holds")
    job = store.create("a-1", {})

    def work(ctx: JobContext) -> None:
        ctx.enter("PREPROCESSING")
        ctx.enter("PROCESSING")

    def wait_for(state: str) -> None:
        deadline = time.monotonic() + 5
        while store.get(job.job_id).state != state:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.01)

    runner.submit(job, work)
    wait_for("PREPROCESSING")
    (tmp_path / "release-holds.PREPROCESSING").touch()
    wait_for("PROCESSING")
    time.sleep(0.1)
    assert store.get(job.job_id).state == "PROCESSING"  # type: ignore[union-attr]
    (tmp_path / "release-holds").touch()
    wait_for(COMPLETED)
    runner.shutdown("done")
