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


def _take(shared, seconds):
    """Take items from `shared` one by one, spending `seconds` on each."""
    import time

    taken = []
    for item in shared:
        taken.append(item)
        time.sleep(seconds)
    return taken


def test_two_lanes_share_a_list_each_item_once_in_order():
    from reportgen.parallel import Shared

    items = [f"job {i}" for i in range(12)]
    shared = Shared(items)
    with in_child(_take, shared, 0.05) as other:
        mine = _take(shared, 0.05)
        theirs = other.result()
    assert sorted(mine + theirs) == sorted(items)  # every item, none twice
    assert mine and theirs  # both lanes worked: neither waited for the other to finish
    assert abs(len(mine) - len(theirs)) <= 2  # equal items: about half each
    for lane in (mine, theirs):  # each lane took its items in the order given
        assert lane == [i for i in items if i in lane]
    assert list(shared) == []  # spent
    assert _no_children_left()


def test_a_lane_with_longer_items_takes_fewer(monkeypatch):
    from reportgen.parallel import Shared

    shared = Shared(list(range(20)))
    with in_child(_take, shared, 0.15) as other:
        mine = _take(shared, 0.02)  # this lane is fast: it takes most of the list
        theirs = other.result()
    assert sorted(mine + theirs) == list(range(20))
    assert len(mine) > 2 * len(theirs)
    assert _no_children_left()


def test_without_fork_the_first_lane_takes_every_item(monkeypatch):
    from reportgen.parallel import Shared

    monkeypatch.setenv("REPORTGEN_NO_FORK", "1")
    shared = Shared(["a", "b", "c"])
    with in_child(_take, shared, 0) as other:  # runs at result(), after this lane
        assert _take(shared, 0) == ["a", "b", "c"]
        assert other.result() == []


def test_the_cli_gives_numpy_normal_pages():
    """numpy's huge pages cost a fresh process 0.6 s per 200 MB array here (cli.py)."""
    import subprocess
    import sys

    code = (
        "import reportgen.cli, numpy; "
        "from numpy._core.multiarray import _set_madvise_hugepage as s; print(s(True))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "False"  # the previous setting: huge pages were off
    env["NUMPY_MADVISE_HUGEPAGE"] = "1"  # the user's own choice is kept
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "True"


def test_the_k_scan_scores_the_same_in_one_lane_or_two(monkeypatch):
    """The two k-scan lanes take the next k as they finish one: any split, the same scores."""
    import numpy as np

    from reportgen.fitting.fit import _k

    X = np.random.default_rng(3).normal(size=(800, 5))
    config = Config()
    two_lanes = _k(config, X, None, None, None)[0]
    monkeypatch.setenv("REPORTGEN_NO_FORK", "1")
    one_lane = _k(config, X, None, None, None)[0]
    ks = list(range(config.clustering.k_min, config.clustering.k_max + 1))
    assert [s.k for s in two_lanes] == ks
    assert two_lanes == one_lane


def test_the_checks_and_examples_are_the_same_in_one_process_or_several(small_file, monkeypatch):
    """The alternatives' lane clusters while the final K-Means is fitted (fit._AlternativesLane)
    and two lanes share the segments' LIME examples (interpret); in one process, one after
    the other, every figure is the same."""
    config = Config()
    forked = analyse(load_customers(small_file, config), config).summary
    monkeypatch.setenv("REPORTGEN_NO_FORK", "1")
    alone = analyse(load_customers(small_file, config), config).summary
    examples = [s.lime_examples for s in forked.segments]
    assert examples == [s.lime_examples for s in alone.segments]
    assert all(examples) and forked.explanations == alone.explanations
    early, late = forked.model, alone.model
    assert early.alternatives == late.alternatives
    assert [a.algorithm for a in early.alternatives][:2] == ["kmeans", "gaussian_mixture"]
    assert early.metrics == late.metrics


def test_a_failing_alternative_is_reported_not_lost(small_file, monkeypatch):
    import reportgen.fitting.fit
    import reportgen.fitting.segment

    def broken(*_args):
        raise ValueError("the mixture broke on purpose")

    # the lane's early clustering fails; the comparison retries it and reports the error
    monkeypatch.setattr(reportgen.fitting.fit, "alternative_clusterings", broken)
    monkeypatch.setattr(reportgen.fitting.segment, "alternative_clusterings", broken)
    config = Config()
    with pytest.raises(ValueError, match="broke on purpose"):
        analyse(load_customers(small_file, config), config)
    assert _no_children_left()


def test_handing_over_the_labels_does_not_wait_for_the_clusterings(monkeypatch):
    """200,000 labels (1.6 MB, far more than a pipe holds) go to a lane still clustering."""
    import time

    import numpy as np

    import reportgen.fitting.fit
    from reportgen.fitting.fit import _AlternativesLane

    def slow(X, *_args):
        time.sleep(3)
        return []

    monkeypatch.setattr(reportgen.fitting.fit, "alternative_clusterings", slow)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200_000, 2))
    labels = rng.integers(0, 3, size=len(X))
    config = Config()
    lane = _AlternativesLane(X, 3, config, np.arange(500), np.arange(1000), None)
    start = time.perf_counter()
    pending = lane.submit(labels)
    assert time.perf_counter() - start < 1.5  # not held until the 3 s of clustering end
    alternatives = pending.result()["alternatives"]
    assert [a["algorithm"] for a in alternatives] == ["kmeans"]
    assert alternatives[0]["n_clusters"] == 3
    assert _no_children_left()


def _slow_squares(taken):
    import time

    out = []
    for i in taken:
        time.sleep(0.05)
        out.append((i, i * i, os.getpid()))
    return out


def test_two_lanes_give_one_result_per_item_from_both_processes():
    from reportgen.parallel import in_two_lanes

    results = in_two_lanes(_slow_squares, list(range(10)))
    assert sorted((i, sq) for i, sq, _pid in results) == [(i, i * i) for i in range(10)]
    assert len({pid for *_, pid in results}) == 2  # both lanes took items
    assert _no_children_left()
