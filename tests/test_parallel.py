"""The one executor (gan_ad.parallel): serially, on threads, on a Dask-like client, and in processes of their own."""
import concurrent.futures
import operator
import os
import threading

import pytest

from gan_ad import parallel

WAIT = 10  # seconds a test waits for another thread before it fails (never reached when all is well)


def failed(tag, error, seconds):
    return {"failed": tag, "error": error, "seconds": seconds}


def test_serial_runs_here_in_order_and_a_raising_task_fails_alone():
    ran = []
    def square(x):
        ran.append(threading.current_thread())
        if x == 2:
            raise ValueError("two is bad")
        return x * x
    got = list(parallel.run(square, [(f"t{x}", (x,)) for x in range(4)], failed=failed))
    assert [tag for tag, _ in got] == ["t0", "t1", "t2", "t3"]
    assert [outcome for _, outcome in got][:2] == [0, 1] and got[3][1] == 9
    assert got[2][1]["failed"] == "t2" and got[2][1]["error"] == "ValueError: two is bad"
    assert got[2][1]["seconds"] >= 0
    assert set(ran) == {threading.current_thread()}


def test_without_failed_the_exception_goes_on():
    with pytest.raises(ZeroDivisionError):
        list(parallel.run(lambda x: 1 / x, [(0, (0,))]))
    with pytest.raises(ZeroDivisionError):
        list(parallel.run(lambda x: 1 / x, [(0, (0,)), (1, (1,))], workers=2))


def test_threads_run_at_once_and_give_every_outcome():
    both = threading.Barrier(2, timeout=WAIT)  # broken (and the task failed) unless two tasks wait here at once
    def task(x):
        both.wait()
        if x == 3:
            raise KeyError("three")
        return x + 10
    got = dict(parallel.run(task, [(x, (x,)) for x in range(4)], workers=2, failed=failed))
    assert sorted(got) == [0, 1, 2, 3]
    assert [got[x] for x in range(3)] == [10, 11, 12]
    assert got[3]["error"] == "KeyError: 'three'" and got[3]["seconds"] >= 0


@pytest.mark.parametrize("workers", [1, 2])
def test_stopping_early_starts_nothing_more_and_calls_on_stop(workers):
    started, stop = [], threading.Event()
    def task(x):
        started.append(x)
        if x > 0:  # runs until on_stop stops it
            assert stop.wait(WAIT)
        return x
    outcomes = parallel.run(task, [(x, (x,)) for x in range(6)], workers=workers, on_stop=stop.set)
    assert next(outcomes) == (0, 0)
    outcomes.close()  # returns once the running tasks have ended
    assert stop.is_set()
    assert started[0] == 0 and len(started) <= 2 * workers - 1  # task 0, those on the other threads, one on its thread: no more


class FakeClient:
    """What gan_ad.parallel needs of a Dask client: ``submit`` giving futures, and ``cancel``."""

    def __init__(self):
        self.pool = concurrent.futures.ThreadPoolExecutor(2)
        self.keys, self.cancelled = [], []

    def submit(self, function, *args, key=None, pure=True):
        assert pure is False  # every task runs, even with the same arguments
        self.keys.append(key)
        return self.pool.submit(function, *args)

    def cancel(self, futures):
        self.cancelled.extend(futures)


def test_a_client_runs_each_task_there_and_a_task_that_could_not_finish_fails():
    client = FakeClient()
    def task(x):
        if x == 1:
            raise RuntimeError("KilledWorker-like: the worker died")
        return -x
    got = dict(parallel.run(task, [(x, (x,)) for x in range(3)], client=client, failed=failed,
                            key=lambda tag, args: f"job {tag}"))
    assert got[0] == 0 and got[2] == -2
    assert got[1] == {"failed": 1, "error": "RuntimeError: KilledWorker-like: the worker died", "seconds": None}
    assert sorted(key.rsplit(" ", 1)[0] for key in client.keys) == ["job 0", "job 1", "job 2"]
    assert len({key for key in client.keys}) == 3  # a random suffix makes each key new
    assert len(client.cancelled) == 3  # released on exit
    client.pool.shutdown()


def test_a_stopped_client_run_cancels_its_tasks():
    client, stop = FakeClient(), threading.Event()
    outcomes = parallel.run(lambda x: x if x == 0 else stop.wait(WAIT), [(x, (x,)) for x in range(3)], client=client,
                            on_stop=stop.set)
    assert next(outcomes) == (0, 0)
    outcomes.close()
    assert stop.is_set() and len(client.cancelled) == 3
    client.pool.shutdown()


def test_processes_run_each_call_in_a_new_process_and_a_death_fails_only_its_call(tmp_path):
    processes = parallel.Processes()
    tasks = [("pid", (os.getpid, (), tmp_path / "a" / "run.log")),
             ("dies", (os._exit, (3,), tmp_path / "b" / "run.log")),
             ("raises", (int, ("x",), tmp_path / "c" / "run.log")),
             ("adds", (operator.add, (1, 2), tmp_path / "d" / "run.log"))]
    got = dict(parallel.run(processes.run, tasks, workers=2, failed=failed, on_stop=processes.terminate))
    assert isinstance(got["pid"], int) and got["pid"] != os.getpid() and got["adds"] == 3
    assert got["dies"]["error"] == f"WorkerDied: the run's process exited with code 3; its output is in {tmp_path}/b/run.log"
    assert got["raises"]["error"] == "ValueError: invalid literal for int() with base 10: 'x'"
    assert (tmp_path / "a" / "run.log").exists()
    with pytest.raises(concurrent.futures.CancelledError):  # stopped: it starts no more
        processes.run(os.getpid, (), tmp_path / "e" / "run.log")
