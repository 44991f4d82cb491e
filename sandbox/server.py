"""An embedded moto server on loopback, for ``--sandbox`` and the end-to-end tests.

Only tests and ``--sandbox`` import this package: the orchestrator never knows it talks to moto.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Settings moto reads from its own process environment (docs/aws-behaviours.md ).
SERVER_ENVIRONMENT = {
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
}


@contextlib.contextmanager
def embedded_server(host: str = "127.0.0.1", speed: float | None = None) -> Iterator[str]:
    """Start moto in this process on a free loopback port; yield its endpoint URL.

    ``speed`` (``--sandbox-speed``): the fidelity layer's clock runs on the wall clock that many
    times faster, and creates, deployments and modifications take AWS's durations divided by it
    (``clock.use_speed``). None: everything is instant, as moto is."""
    for key, value in SERVER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    from moto.server import ThreadedMotoServer

    from sandbox.fidelity import apply, clock

    apply()
    if speed is not None:
        clock.use_speed(speed)
    from sandbox.fidelity import tagging

    # GetResources as a real account answers it (docs/aws-behaviours.md C-TAG-1); back to moto's own when the
    # server stops, for whatever else runs in this process.
    tagging.on_by_default()

    # werkzeug logs every request to stderr; the run's own log is what a person wants to read.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    try:
        bound_host, port = server.get_host_and_port()
        yield f"http://{bound_host}:{port}"
    finally:
        server.stop()
        if speed is not None:
            clock.reset()
        tagging.on_by_default(False)


@contextlib.contextmanager
def sandbox_environment(endpoint: str, region: str) -> Iterator[None]:
    """Point the standard AWS environment at the sandbox, and restore it afterwards."""
    changes = {**FAKE_CREDENTIALS, "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    removed = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
    saved = {k: os.environ.get(k) for k in [*changes, *removed]}
    os.environ.update(changes)
    for key in removed:
        os.environ.pop(key, None)
    # A real profile on this machine must never be read in a sandbox run.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
