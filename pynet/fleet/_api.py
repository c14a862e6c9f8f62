"""pynet.fleet.ping() and pynet.fleet.sweep(): many targets, one engine, one
socket per address family.

    >>> from pynet import fleet
    >>> for r in fleet.sweep("127.9.0.0/16", timeout=0.5):     # doctest: +SKIP
    ...     if not r.is_alive:
    ...         print(r.address, "is unreachable")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator, List, Optional, Union

from .._errors import ResolveError
from .._errors import FleetNameError
from ._result import FleetResult
from ._run import Options, Run, check_options
from ._targets import Targets

if TYPE_CHECKING:
    from ._targets import TargetSpec

    Spec = Union[TargetSpec, Iterable[TargetSpec]]

__all__ = ["ping", "sweep"]


def _targets(targets: Spec, family: Optional[int]) -> Targets:
    try:
        return Targets(targets, family=family)  # type: ignore[arg-type]
    except FleetNameError:
        raise
    except ResolveError as exc:
        raise FleetNameError(exc.host, exc.reason) from None


def sweep(targets: Spec, *, count: int = 1, interval: float = 0.0, period: float = 1.0,
          timeout: float = 0.5, retries: int = 0, backoff: float = 1.5,
          rate: Optional[float] = None, size: int = 56, ttl: Optional[int] = None,
          family: Optional[int] = None, privileged: Optional[bool] = None,
          source: Optional[str] = None, interface: Optional[str] = None,
          keep_replies: bool = True, backend: Optional[str] = None) -> Iterator[FleetResult]:
    """Probe every target and yield its FleetResult as soon as it is final,
    in the order they finish (not the order given).

    targets: a name, an address, a network ("127.1.0.0/16" or an ipaddress
    network: its hosts), or an iterable of these; IPv4 and IPv6 may mix.
    count: probes per target (0: until the iterator is closed); interval:
    least seconds between any two sends (fping -i); period: seconds between
    probes to one target (-p); timeout: seconds per probe (-t; a retry waits
    timeout * backoff**k); retries: extra probes to a silent target when
    count is 1 (-r); rate: a cap on sends per second; size: payload bytes
    (at least 16: the run's key, the target and the probe number).
    keep_replies=False leaves FleetResult.replies and .icmp_errors empty.
    Names are resolved before anything is sent: FleetNameError (a
    ResolveError) for one that does not; FleetPermissionError,
    FleetSocketError for the sockets.
    """
    options = Options(count=count, interval=interval, period=period, timeout=timeout,
                      retries=retries, backoff=backoff, rate=rate, size=size, ttl=ttl,
                      family=family, privileged=privileged, interface=interface, source=source,
                      keep_replies=keep_replies)
    check_options(options)
    run = Run(_targets(targets, family), options, backend)
    return _results(run)


def _results(run: Run) -> Iterator[FleetResult]:
    for _index, result in run.results():
        yield result


def ping(targets: Spec, *, count: int = 1, interval: float = 0.0, period: float = 1.0,
         timeout: float = 0.5, retries: int = 0, backoff: float = 1.5,
         rate: Optional[float] = None, size: int = 56, ttl: Optional[int] = None,
         family: Optional[int] = None, privileged: Optional[bool] = None,
         source: Optional[str] = None, interface: Optional[str] = None,
         keep_replies: bool = True, backend: Optional[str] = None) -> List[FleetResult]:
    """sweep(), gathered: one FleetResult per target, in the order given
    (count must be > 0). The same options and errors as sweep()."""
    if isinstance(count, int) and not isinstance(count, bool) and count == 0:
        raise ValueError("count=0 never ends: use sweep() and close it")
    options = Options(count=count, interval=interval, period=period, timeout=timeout,
                      retries=retries, backoff=backoff, rate=rate, size=size, ttl=ttl,
                      family=family, privileged=privileged, interface=interface, source=source,
                      keep_replies=keep_replies)
    check_options(options)
    run = Run(_targets(targets, family), options, backend)
    out: List[Optional[FleetResult]] = [None] * run.targets.total
    for index, result in run.results():
        out[index] = result
    return [r for r in out if r is not None]
