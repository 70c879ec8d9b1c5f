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
