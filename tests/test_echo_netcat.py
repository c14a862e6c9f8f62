"""netcat (netcat-openbsd) as an outside client of every model."""

from __future__ import annotations

import subprocess

import pytest
from support import outside_env, program

from echo_helpers import TCP_MODELS, EchoProcess, payload


@pytest.mark.parametrize("model", TCP_MODELS)
def test_netcat_tcp(model: str) -> None:
    nc = program("nc")
    data = payload(200_000, 3)
    with EchoProcess("--model", model) as server:
        host, port = server.address
        # -N: shut down the sending side at end of input; nc then prints what
        # comes back until the server closes.
        done = subprocess.run([nc, "-N", host, str(port)], input=data, capture_output=True,
                              timeout=60, env=outside_env())
        assert done.returncode == 0, done.stderr
        assert done.stdout == data
        code, err = server.stop()
        assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize("model", ("iterative", "native"))
def test_netcat_udp(model: str) -> None:
    nc = program("nc")
    with EchoProcess("--proto", "udp", "--model", model) as server:
        host, port = server.address
        # -w 1: nc ends one second after the last datagram; the echo comes
        # back well before that.
        done = subprocess.run([nc, "-u", "-w", "1", host, str(port)], input=b"Hello UDP\n",
                              capture_output=True, timeout=30, env=outside_env())
        assert done.stdout == b"Hello UDP\n", done.stderr
        code, _ = server.stop()
        assert code == 0
