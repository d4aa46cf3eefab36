"""The one executor of sweeps and grading: :func:`run` calls a function on many tasks and yields each outcome as it
finishes (one after another here, on threads here, or as tasks of a Dask cluster); :class:`Processes` runs each call
in a fresh process of its own. Standard library only: the Dask path uses the client's futures, never imports Dask.
"""
import concurrent.futures
import multiprocessing
import os
import queue
import signal
import threading
import time
import uuid
from pathlib import Path


def run(function, tasks, workers=1, client=None, failed=None, on_stop=None, key=None):
    """Yield ``(tag, function(*args))`` for each task ``(tag, args)`` as it finishes.

    Serially in this process, in the tasks' order, when ``workers`` is at most 1 and there is no ``client``;
    on ``workers`` threads of this process; or, given a Dask ``client``, as tasks of its cluster (named
    ``key(tag, args)`` and a random suffix). A task that raises, or that could not finish on the cluster
    (its worker died, say), yields ``failed(tag, sentence, seconds)`` instead: the sentence from
    :func:`describe`, the seconds it ran here (None on a cluster); without ``failed`` the exception goes on.
    On exit, however it comes (all done, Ctrl-C, an error, the consumer closing the generator early), no
    task starts any more, the pending ones are cancelled, and ``on_stop()`` stops what the running ones started.
    """
    tasks = list(tasks)
    if client is None and (workers or 1) <= 1:
        try:
            for tag, args in tasks:
                yield tag, attempt(function, tag, args, failed)
        finally:
            if on_stop is not None:
                on_stop()
        return
    pool = None if client is not None else concurrent.futures.ThreadPoolExecutor(max(1, min(workers, len(tasks))))

    def submit(tag, args):
        if pool is not None:
            return pool.submit(attempt, function, tag, args, failed)
        named = {"key": f"{key(tag, args)} {uuid.uuid4().hex[:8]}"} if key else {}
        return client.submit(function, *args, pure=False, **named)

    finished = queue.Queue()  # the futures, as they finish (a Dask future calls back from a thread of its own)
    futures = {}
    try:
        for tag, args in tasks:
            future = submit(tag, args)
            futures[future] = tag
            future.add_done_callback(finished.put)
        for _ in range(len(futures)):
            future = finished.get()
            try:
                outcome = future.result()
            except Exception as err:  # on a cluster: the task could not finish
                if failed is None:
                    raise
                outcome = failed(futures[future], describe(err), None)
            yield futures[future], outcome
    finally:
        if client is not None:
            client.cancel(list(futures))  # one call to the scheduler for all
        else:
            for future in futures:
                future.cancel()
        if on_stop is not None:
            on_stop()
        if pool is not None:
            pool.shutdown()


def attempt(function, tag, args, failed):
    """``function(*args)``; when it raises, ``failed(tag, sentence, seconds)`` if ``failed`` is given."""
    start = time.perf_counter()
    try:
        return function(*args)
    except Exception as err:
        if failed is None:
            raise
        return failed(tag, describe(err), time.perf_counter() - start)


def describe(err):
    """One line for an exception: a notebook's error (papermill's ``ename: evalue``), or the exception itself."""
    if isinstance(err, TaskError):
        return str(err)
    if hasattr(err, "ename") and hasattr(err, "evalue"):
        return f"{err.ename}: {err.evalue}".strip()
    return f"{type(err).__name__}: {err}".strip().rstrip(":")


class WorkerDied(RuntimeError):
    """A :class:`Processes` process ended without an answer (killed, out of memory, exited)."""


class TaskError(RuntimeError):
    """An exception raised in a :class:`Processes` process, as the sentence :func:`describe` made of it there."""


class Processes:
    """Runs each call in a fresh spawned process, so that a process that dies fails only its own call."""

    def __init__(self):
        self.live = set()
        self.lock = threading.Lock()
        self.stopped = False

    def run(self, function, args, log):
        """``function(*args)`` in a new process whose terminal output goes to ``log``; :class:`WorkerDied` if it dies."""
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(send, function, args, str(log)), daemon=True)
        with self.lock:
            if self.stopped:
                raise concurrent.futures.CancelledError()
            process.start()
            self.live.add(process)
        send.close()
        try:
            answer = receive.recv()
        except EOFError:  # the process ended without an answer
            answer = None
        finally:
            receive.close()
            process.join()
            with self.lock:
                self.live.discard(process)
        if answer is None:
            code = process.exitcode
            try:
                how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            except ValueError:
                how = f"ended with code {code}"
            raise WorkerDied(f"the run's process {how}; its output is in {log}")
        done, value = answer
        if not done:
            raise TaskError(value)
        return value

    def terminate(self):
        """Stop every process still running, and start no more."""
        with self.lock:
            self.stopped = True
            for process in self.live:
                process.terminate()


def _child(send, function, args, log):
    """The body of a :class:`Processes` process: send back ``(True, function(*args))``, or ``(False, its error)``."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb", buffering=0) as out:  # a notebook kernel inherits these, so its chatter lands here too
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    try:
        answer = (True, function(*args))
    except Exception as err:
        answer = (False, describe(err))
    try:
        send.send(answer)
    except Exception as err:  # an answer that cannot be pickled
        send.send((False, f"the run's answer could not be sent back ({describe(err)})"))
    send.close()
