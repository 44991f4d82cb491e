"""One fetch per listing per walk, however many nodes ask at once; failures are not kept."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from resources.aws.shared_reads import SharedReads, chunks, listing


def test_concurrent_askers_share_one_fetch():
    shared = SharedReads()
    release = threading.Event()
    fetches = []

    def fetch():
        fetches.append(1)
        release.wait(timeout=10)  # every other asker arrives while this fetch is in flight
        return ["subnet-1", "subnet-2"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(shared.once, "subnets", fetch) for _ in range(6)]
        release.set()
        answers = [f.result(timeout=10) for f in futures]
    assert fetches == [1]
    assert answers == [["subnet-1", "subnet-2"]] * 6


def test_different_keys_fetch_separately():
    shared = SharedReads()
    assert shared.once("a", lambda: 1) == 1
    assert shared.once("b", lambda: 2) == 2
    assert shared.once("a", lambda: 3) == 1


def test_a_failed_fetch_is_not_kept():
    shared = SharedReads()

    def throttled():
        raise RuntimeError("RequestLimitExceeded")

    with pytest.raises(RuntimeError):
        shared.once("k", throttled)
    assert shared.once("k", lambda: "second try") == "second try"


class FakeEc2:
    def __init__(self):
        self.calls = []

    def can_paginate(self, operation):
        return False

    def describe_subnets(self, **params):
        self.calls.append(params)
        return {"Subnets": [{"SubnetId": "subnet-1"}]}


def test_listing_is_keyed_by_operation_and_filters():
    ec2, shared = FakeEc2(), SharedReads()
    vpc_a = [{"Name": "vpc-id", "Values": ["vpc-a"]}]
    vpc_b = [{"Name": "vpc-id", "Values": ["vpc-b"]}]
    for _ in range(3):
        listing(shared, ec2, "describe_subnets", "Subnets", vpc_a)
    listing(shared, ec2, "describe_subnets", "Subnets", vpc_b)
    assert ec2.calls == [{"Filters": vpc_a}, {"Filters": vpc_b}]


def test_without_shared_reads_every_listing_asks_aws():
    ec2 = FakeEc2()
    for _ in range(2):
        listing(None, ec2, "describe_subnets", "Subnets", [])
    assert len(ec2.calls) == 2


def test_filter_values_are_cut_at_ec2s_limit():
    assert [len(c) for c in chunks(list(range(450)))] == [200, 200, 50]
    assert chunks([]) == []


def test_an_account_listing_is_fetched_once_for_every_walk_of_drift_all():
    across = SharedReads()
    walks = [SharedReads(across), SharedReads(across)]
    fetches = []
    answers = [w.account("roles", lambda: fetches.append(1) or ["r"]) for w in walks]
    assert answers == [["r"], ["r"]] and fetches == [1]
    # A walk's own listings stay its own: each environment lists its own VPC.
    assert [w.once("subnets", lambda w=w: id(w)) for w in walks] == [id(walks[0]), id(walks[1])]


def test_a_single_walks_account_listing_is_its_own():
    walk, fetches = SharedReads(), []
    for _ in range(2):
        walk.account("roles", lambda: fetches.append(1) or ["r"])
    assert fetches == [1] and walk.across is None
    assert SharedReads().account("roles", lambda: ["again"]) == ["again"]
