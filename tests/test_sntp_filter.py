"""The pieces of sntp's sampling that need no server: the clock filter's
selection and jitter on made-up samples, the kernel timestamps' control
messages laid out by hand (and their constants against the headers), and
the session's rules for transmit stamps."""

from __future__ import annotations

import errno
import math
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import List, Tuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from ntp_peers import reply
from support import outside_env, program

from pynet import _errqueue, _stamps
from pynet.sntp import SNTPSample
from pynet.sntp._filter import jitter_s, select
from pynet.sntp._session import Session


def sample(offset_s: float, delay_s: float) -> SNTPSample:
    return SNTPSample(offset_s=offset_s, delay_s=delay_s, root_distance_s=delay_s / 2,
                      server_time_s=0.0, tx_stamp="kernel", rx_stamp="kernel")


# The clock filter.

def test_select_takes_the_least_delay() -> None:
    samples = [sample(3e-6, 40e-6), sample(-1e-6, 12e-6), sample(9e-6, 30e-6)]
    assert select(samples) == 1


def test_select_ties_go_to_the_first() -> None:
    samples = [sample(5e-6, 20e-6), sample(1e-6, 10e-6), sample(2e-6, 10e-6)]
    assert select(samples) == 1


def test_select_refuses_nothing() -> None:
    with pytest.raises(ValueError):
        select([])


def test_jitter_by_hand() -> None:
    # Offsets 2, 5, -1, 3 µs; the least delay is the third's (offset -1 µs),
    # and the others differ from it by 3, 6 and 4 µs.
    samples = [sample(2e-6, 30e-6), sample(5e-6, 50e-6), sample(-1e-6, 10e-6),
               sample(3e-6, 20e-6)]
    chosen = select(samples)
    assert chosen == 2
    expected = math.sqrt((3e-6 ** 2 + 6e-6 ** 2 + 4e-6 ** 2) / 3)
    assert jitter_s(samples, chosen) == pytest.approx(expected, rel=1e-12)


def test_jitter_of_one_sample_is_none_and_of_equal_offsets_zero() -> None:
    assert jitter_s([sample(1e-6, 1e-5)], 0) is None
    assert jitter_s([sample(1e-6, 1e-5), sample(1e-6, 2e-5)], 0) == 0.0


def test_jitter_of_two_is_their_difference() -> None:
    assert jitter_s([sample(4e-6, 1e-5), sample(-3e-6, 2e-5)], 0) == pytest.approx(7e-6)


@given(st.lists(st.tuples(st.floats(-1.0, 1.0), st.floats(0.0, 1.0)), min_size=1, max_size=16))
@example([(0.0, 0.0), (4.7093990866220886e-157, 0.0)])
def test_filter_properties(pairs: List[Tuple[float, float]]) -> None:
    samples = [sample(offset, delay) for offset, delay in pairs]
    chosen = select(samples)
    assert all(samples[chosen].delay_s <= other.delay_s for other in samples)
    assert all(samples[chosen].delay_s < other.delay_s for other in samples[:chosen])
    spread = jitter_s(samples, chosen)
    if len(samples) == 1:
        assert spread is None
    else:
        assert spread is not None and spread >= 0
        # An RMS lies within the largest difference, less rounding (below
        # 1e-150 s the squares are subnormal floats and lose their digits).
        largest = max(abs(s.offset_s - samples[chosen].offset_s) for s in samples)
        assert spread <= largest * (1 + 1e-12) or largest < 1e-150


# Kernel timestamps, as the kernel lays out its control messages.

def _extended_err(err: int, origin: int, info: int, data: int) -> bytes:
    return _errqueue.EXTENDED_ERR.pack(err, origin, 0, 0, 0, info, data) + bytes(16)


def _scm_timestamping(sec: int, nsec: int) -> bytes:
    return struct.pack("=qqqqqq", sec, nsec, 0, 0, 0, 0)


def test_tx_stamp_parsed() -> None:
    ancdata = [(socket.SOL_SOCKET, _stamps.SCM_TIMESTAMPING, _scm_timestamping(1700000000, 5)),
               (socket.IPPROTO_IP, _errqueue.IP_RECVERR,
                _extended_err(errno.ENOMSG, _errqueue.SO_EE_ORIGIN_TIMESTAMPING, 0, 7))]
    assert _stamps.tx_stamp(ancdata) == (7, 1700000000 * 10**9 + 5)
    v6 = [ancdata[0], (socket.IPPROTO_IPV6, _errqueue.IPV6_RECVERR, ancdata[1][2])]
    assert _stamps.tx_stamp(v6) == (7, 1700000000 * 10**9 + 5)


def test_tx_stamp_is_not_an_icmp_error_nor_the_reverse() -> None:
    icmp = (socket.IPPROTO_IP, _errqueue.IP_RECVERR,
            _extended_err(errno.ECONNREFUSED, _errqueue.SO_EE_ORIGIN_ICMP, 0, 0))
    stamp = (socket.SOL_SOCKET, _stamps.SCM_TIMESTAMPING, _scm_timestamping(1, 2))
    assert _stamps.tx_stamp([stamp, icmp]) is None
    assert _errqueue.timestamp_key([icmp]) is None
    # A report of another kind (SCM_TSTAMP_SCHED, 1) is not a send stamp.
    sched = (socket.IPPROTO_IP, _errqueue.IP_RECVERR,
             _extended_err(errno.ENOMSG, _errqueue.SO_EE_ORIGIN_TIMESTAMPING, 1, 0))
    assert _stamps.tx_stamp([stamp, sched]) is None
    # The report without its stamp, or a zero stamp: nothing.
    report = (socket.IPPROTO_IP, _errqueue.IP_RECVERR,
              _extended_err(errno.ENOMSG, _errqueue.SO_EE_ORIGIN_TIMESTAMPING, 0, 3))
    assert _stamps.tx_stamp([report]) is None
    zero = (socket.SOL_SOCKET, _stamps.SCM_TIMESTAMPING, _scm_timestamping(0, 0))
    assert _stamps.tx_stamp([zero, report]) is None


def test_rx_stamp_parsed() -> None:
    timespec = _stamps.TIMESPEC.pack(1800000000, 123456789)
    assert _stamps.rx_ns([(socket.SOL_SOCKET, _stamps.SO_TIMESTAMPNS, timespec)]) == \
        1800000000_123456789
    assert _stamps.rx_ns([(socket.SOL_SOCKET, _stamps.SO_TIMESTAMPNS, timespec[:8])]) is None
    assert _stamps.rx_ns([(socket.IPPROTO_IP, _stamps.SO_TIMESTAMPNS, timespec)]) is None
    assert _stamps.rx_ns([]) is None


# The session's handling of stamps.

def _one_request(session: Session) -> Tuple[object, bytes]:
    made = session.request(session.probes[0])
    assert made is not None
    return made


def test_a_transmit_stamp_replaces_the_clock_reading() -> None:
    now = time.time_ns()
    session = Session([("a", socket.AF_INET, ("127.0.0.1", 123))], clock=lambda: now)
    request, data = _one_request(session)
    session.sent(request, now - 1000)  # type: ignore[arg-type]
    session.on_tx_stamp(request, now)  # type: ignore[arg-type]
    session.on_datagram(reply(data, clock=lambda: now), ("127.0.0.1", 123), now, "kernel")
    (result,) = session.results(1.0)
    assert (result.tx_stamp, result.rx_stamp) == ("kernel", "kernel")
    assert result.delay_s == 0 and result.offset_s == 0  # T1 is the stamp, not the clock


def test_a_transmit_stamp_before_the_send_is_refused() -> None:
    """A stamp earlier than the clock read before send cannot be this
    request's (the keys were miscounted): the clock reading stays."""
    now = time.time_ns()
    session = Session([("a", socket.AF_INET, ("127.0.0.1", 123))], clock=lambda: now)
    request, data = _one_request(session)
    session.sent(request, now)  # type: ignore[arg-type]
    session.on_tx_stamp(request, now - 1)  # type: ignore[arg-type]
    session.on_datagram(reply(data, clock=lambda: now), ("127.0.0.1", 123), now, "kernel")
    (result,) = session.results(1.0)
    assert (result.tx_stamp, result.rx_stamp) == ("user", "kernel")


def test_samples_come_back_in_the_order_sent() -> None:
    now = time.time_ns()
    session = Session([("a", socket.AF_INET, ("127.0.0.1", 123))], clock=lambda: now, count=3)
    made = [_one_request(session) for _ in range(3)]
    assert session.request(session.probes[0]) is None  # count reached
    for number, (request, _data) in enumerate(made):
        session.sent(request, now + number * 1000)  # type: ignore[arg-type]
    # Answered in reverse; the first request lost. Delays 1 µs then 2 µs.
    session.on_datagram(reply(made[2][1], clock=lambda: now + 3000), ("127.0.0.1", 123),
                        now + 3000)
    session.on_datagram(reply(made[1][1], clock=lambda: now + 1000), ("127.0.0.1", 123),
                        now + 3000)
    assert not session.finished  # one still outstanding
    (result,) = session.results(1.0)
    assert result.ok and result.sent == 3 and len(result.samples) == 2
    assert [round(s.delay_s * 1e9) for s in result.samples] == [2000, 1000]
    assert result.selected == 1 and result.delay_s == result.samples[1].delay_s


def test_kernel_constants_match_the_headers(tmp_path: Path) -> None:
    """The numbers pynet._stamps and pynet._errqueue write down for Linux,
    against the system's own headers, compiled and printed."""
    cc = program("cc")
    names = {
        "SO_TIMESTAMPNS": _stamps.SO_TIMESTAMPNS,
        "SO_TIMESTAMPING": _stamps.SO_TIMESTAMPING,
        "SCM_TIMESTAMPING": _stamps.SCM_TIMESTAMPING,
        "SOF_TIMESTAMPING_TX_SOFTWARE": _stamps.SOF_TIMESTAMPING_TX_SOFTWARE,
        "SOF_TIMESTAMPING_SOFTWARE": _stamps.SOF_TIMESTAMPING_SOFTWARE,
        "SOF_TIMESTAMPING_OPT_ID": _stamps.SOF_TIMESTAMPING_OPT_ID,
        "SOF_TIMESTAMPING_OPT_TSONLY": _stamps.SOF_TIMESTAMPING_OPT_TSONLY,
        "SO_EE_ORIGIN_TIMESTAMPING": _errqueue.SO_EE_ORIGIN_TIMESTAMPING,
        "SCM_TSTAMP_SND": _errqueue.SCM_TSTAMP_SND,
        "(int)sizeof(struct scm_timestamping)": 3 * _stamps.TIMESPEC.size,
    }
    source = tmp_path / "constants.c"
    source.write_text("#include <stdio.h>\n#include <sys/socket.h>\n#include <linux/errqueue.h>\n"
                      "#include <linux/net_tstamp.h>\nint main(void) {\n"
                      + "".join(f'    printf("%d\\n", (int)({name}));\n' for name in names)
                      + "    return 0;\n}\n")
    binary = tmp_path / "constants"
    subprocess.run([cc, "-o", str(binary), str(source)], check=True, env=outside_env(),
                   capture_output=True, timeout=60)
    printed = subprocess.run([str(binary)], check=True, capture_output=True, text=True,
                             env=outside_env(), timeout=60).stdout.split()
    assert dict(zip(names, map(int, printed))) == names
