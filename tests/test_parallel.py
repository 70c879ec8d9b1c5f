"""The second lane: a forked child's value or error comes back, and no child outlives a failure."""

import os

import pytest

from reportgen.config import Config
from reportgen.errors import InputError
from reportgen.input.load import load_customers
from reportgen.parallel import in_child
from reportgen.pipeline import analyse


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)  # returns while a child is running or not yet reaped
    except ChildProcessError:
        return True
    return False


def _fail(message):
    raise ValueError(message)


def test_the_childs_value_and_error_come_back():
    assert in_child(sum, [1, 2, 3]).result() == 6
    with pytest.raises(ValueError, match="from the child"):
        in_child(_fail, "from the child").result()
    assert _no_children_left()


def test_a_run_that_fails_while_the_checks_run_leaves_no_child(small_file, monkeypatch):
    import reportgen.describe.interpret

    def broken(*_args):
        raise InputError("personas.names: broken on purpose")

    monkeypatch.setattr(reportgen.describe.interpret, "interpret", broken)
    config = Config()
    with pytest.raises(InputError, match="broken on purpose"):
        analyse(load_customers(small_file, config), config)
    assert _no_children_left()


def _add(a, b, *, scale):
    return (a + b) * scale


def test_a_worker_runs_its_job_with_arguments_sent_later(monkeypatch):
    from reportgen.parallel import Worker

    warmed = []
    # `scale` is handed over by the fork itself; a lambda could not be pickled
    worker = Worker(lambda a, b, scale: _add(a, b, scale=scale()), warmed.append, scale=lambda: 3)
    assert worker.submit(1, 2).result() == 9
    failing = Worker(_fail, None)
    with pytest.raises(ValueError, match="sent later"):
        failing.submit("sent later").result()
    assert _no_children_left()


def test_a_cancelled_worker_leaves_no_child():
    from reportgen.parallel import Worker

    Worker(_fail, None).cancel()  # never given a job
    with Worker(_add, None, scale=1) as worker:
        worker.submit(1, 2)
    assert _no_children_left()


def test_without_fork_a_worker_runs_in_this_process(monkeypatch):
    from reportgen.parallel import Worker

    monkeypatch.setenv("REPORTGEN_NO_FORK", "1")
    pid = os.getpid()
    assert Worker(os.getpid, None).submit().result() == pid


def _halfway(seconds, *, marked):
    import time

    marked()
    time.sleep(seconds)
    return "done"


def test_a_worker_tells_when_its_milestone_is_reached():
    import time

    from reportgen.parallel import Worker

    worker = Worker(_halfway, None, milestone="marked").submit(1.5)
    start = time.perf_counter()
    worker.reached(timeout=30)
    assert time.perf_counter() - start < 1.0  # at the milestone, not at the end of the job
    assert worker.result() == "done"
    # a job that fails before its milestone releases the wait at once, not at the timeout
    failing = Worker(lambda marked: _fail("before the milestone"), None, milestone="marked")
    start = time.perf_counter()
    failing.submit().reached(timeout=30)
    assert time.perf_counter() - start < 5
    with pytest.raises(ValueError, match="before the milestone"):
        failing.result()
    assert _no_children_left()


def test_without_fork_a_milestone_costs_no_wait(monkeypatch):
    from reportgen.parallel import Worker

    monkeypatch.setenv("REPORTGEN_NO_FORK", "1")
    worker = Worker(_halfway, None, milestone="marked").submit(0)
    worker.reached(timeout=30)  # the job runs at result(), in this process
    assert worker.result() == "done"
