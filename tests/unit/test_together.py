"""resources/aws/together.py: a resource's independent reads made at once."""
from __future__ import annotations

import contextvars
import threading

import pytest

from resources.aws.together import together

FLAG = contextvars.ContextVar("flag", default="unset")


def test_the_answers_come_in_order_and_the_reads_overlap():
    # Each read waits until both have started: made one after the other, they would never end.
    started = threading.Barrier(2, timeout=10)

    def read(value):
        started.wait()
        return value

    assert together(lambda: read("first"), lambda: read("second")) == ["first", "second"]


def test_each_read_sees_the_callers_context():
    FLAG.set("first look")
    assert together(FLAG.get, FLAG.get, FLAG.get) == ["first look"] * 3


def test_an_error_is_raised_once_every_read_has_ended():
    ended = []

    def slow():
        ended.append("slow")
        return 1

    def fails():
        raise ValueError("denied")

    with pytest.raises(ValueError, match="denied"):
        together(fails, slow)
    assert ended == ["slow"]
    with pytest.raises(ValueError, match="denied"):
        together(slow, fails)
