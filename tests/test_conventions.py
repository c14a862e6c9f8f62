"""The API conventions (shared/DESIGN.md), checked on the public API itself
with inspect: target first, options by keyword, durations named plainly,
every blocking call with its async twin, every error exported and carrying
an exit code, family as 4 or 6 in every result."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import socket
from typing import Any, Callable, Dict, List, Tuple

import pytest

import pynet
from pynet import _errors

from ntp_peers import answer, fake_ntp
from tcp_peers import echo, serving

# Each tool's main functions: (module, function, how many leading
# positional parameters make up its target).
BLOCKING: List[Tuple[str, str, int]] = [
    ("pynet.ping", "ping", 1),
    ("pynet.tcp", "request", 2),      # host, port
    ("pynet.sntp", "query", 1),
    ("pynet.traceroute", "traceroute", 1),
]
NOT_BLOCKING: List[Tuple[str, str, int]] = [
    # A server's target is the address it binds, which has a default.
    ("pynet.echo", "serve", 2),       # a server in a background thread: returns at once
    ("pynet.echo", "open", 2),
    # Many targets: the asyncio side is pynet.fleet.Pinger, one engine for
    # every concurrent call, rather than an async twin per call.
    ("pynet.fleet", "ping", 1),
    ("pynet.fleet", "sweep", 1),
]
SERVERS = frozenset({("pynet.echo", "serve"), ("pynet.echo", "open")})
# The durations a caller may pass, all in seconds.
DURATIONS = frozenset({"timeout", "interval", "deadline", "connect_timeout", "idle_timeout",
                       "max_time", "period", "wait", "pause", "duration", "warmup"})
# Names with "time" in them that are no duration: ping's IP timestamp option
# (iputils -T) and the hosts it stamps.
NOT_DURATIONS = frozenset({"timestamp", "timestamp_hosts"})
TOOL_ERRORS = {
    "pynet.ping": _errors.PingError,
    "pynet.tcp": _errors.TcpError,
    "pynet.sntp": _errors.SNTPError,
    "pynet.echo": _errors.EchoError,
    "pynet.fleet": _errors.FleetError,
    "pynet.traceroute": _errors.TracerouteError,
    "pynet.exporter": _errors.ExporterError,
}
CALLABLE_TOOLS = ["pynet.ping", "pynet.tcp", "pynet.sntp", "pynet.echo", "pynet.traceroute"]


def _function(module: str, name: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fn


ALL = BLOCKING + NOT_BLOCKING + [(m, "async_" + f, n) for m, f, n in BLOCKING]


@pytest.mark.parametrize("module, name, targets", ALL)
def test_target_first_then_keywords_only(module: str, name: str, targets: int) -> None:
    parameters = list(inspect.signature(_function(module, name)).parameters.values())
    positional = [p for p in parameters if p.kind is not p.KEYWORD_ONLY]
    assert len(positional) == targets, [p.name for p in positional]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in positional)
    if (module, name) not in SERVERS:
        assert all(p.default is p.empty for p in positional)
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters[targets:])


@pytest.mark.parametrize("module, name, targets", ALL)
def test_durations_are_named_plainly(module: str, name: str, targets: int) -> None:
    for p in inspect.signature(_function(module, name)).parameters.values():
        assert not p.name.endswith(("_s", "_ms", "_ns", "_seconds")), p.name
        if any(word in p.name for word in ("time", "interval", "deadline", "wait")) and \
                p.name not in NOT_DURATIONS:
            assert p.name in DURATIONS, p.name
        if p.name in DURATIONS and p.default not in (None, inspect.Parameter.empty):
            assert isinstance(p.default, float), (p.name, p.default)


@pytest.mark.parametrize("module, name, targets", BLOCKING)
def test_every_blocking_call_has_its_async_twin(module: str, name: str, targets: int) -> None:
    blocking = inspect.signature(_function(module, name))
    twin = _function(module, "async_" + name)
    assert inspect.iscoroutinefunction(twin)
    ours = {p.name: p.default for p in blocking.parameters.values()}
    theirs = {p.name: p.default for p in inspect.signature(twin).parameters.values()}
    # The blocking call may take a stop callable that the twin gets from cancellation.
    ours.pop("stop", None)
    assert theirs == ours


def _subclasses(base: type) -> List[type]:
    found = []
    for cls in base.__subclasses__():
        found.append(cls)
        found.extend(_subclasses(cls))
    return found


def test_every_error_is_exported_with_an_exit_code() -> None:
    errors = [cls for cls in _subclasses(_errors.PynetError) if cls.__module__ == "pynet._errors"]
    assert len(errors) > 25
    for cls in [_errors.PynetError, *errors]:
        assert getattr(pynet, cls.__name__) is cls, cls
        assert cls.__name__ in pynet.__all__, cls
        assert isinstance(cls.exit_code, int) and 0 < cls.exit_code < 128, cls
    for module, base in TOOL_ERRORS.items():
        tool = importlib.import_module(module)
        mine = [cls for cls in errors if issubclass(cls, base)]
        assert base in mine or getattr(tool, base.__name__) is base
        for cls in [base, *mine]:
            assert getattr(tool, cls.__name__) is cls, (module, cls)
            assert cls.__name__ in tool.__all__, (module, cls)


def test_built_in_excepts_catch_pynet_errors() -> None:
    timeouts = [_errors.ConnectTimeout, _errors.IdleTimeout, _errors.MaxTimeExceeded,
                _errors.NoReply]
    assert all(issubclass(cls, TimeoutError) for cls in timeouts)
    assert issubclass(_errors.ConnectionRefused, ConnectionRefusedError)
    assert issubclass(_errors.PortUnreachable, ConnectionRefusedError)
    assert issubclass(_errors.PingPermissionError, PermissionError)
    # Every tool's name error is the one ResolveError.
    for cls in (_errors.PingNameError, _errors.TcpNameError, _errors.SNTPNameError):
        assert issubclass(cls, _errors.ResolveError)


@pytest.mark.parametrize("module", CALLABLE_TOOLS)
def test_tools_are_modules_and_their_main_function(module: str) -> None:
    tool = importlib.import_module(module)
    attribute = module.split(".")[1]
    assert getattr(pynet, attribute) is tool
    assert callable(tool)
    main = tool.__main_function__
    assert inspect.signature(tool) == inspect.signature(main)
    assert callable(tool.main)  # the command line, as python -m runs it


def _is_result(value: object) -> bool:
    return dataclasses.is_dataclass(value) or isinstance(value, tuple)


def _results() -> Dict[str, object]:
    with serving(echo) as server:
        tcp4 = pynet.tcp.request("127.0.0.1", server.port, data=b"hi", shutdown=True)
    with fake_ntp(answer()) as ntp:
        sntp4 = pynet.sntp.query("127.0.0.1", port=ntp.port, timeout=5.0)[0]
    return {
        "ping": pynet.ping("::1", count=1, interval=0.0),
        "tcp": tcp4,
        "async_tcp": _async_tcp(),
        "sntp": sntp4,
    }


def _async_tcp() -> object:
    with serving(echo, host="::1") as server:
        return asyncio.run(pynet.tcp.async_request("::1", server.port, data=b"x",
                                                   shutdown=True))


def test_results_say_family_4_or_6_and_have_to_dict() -> None:
    import json

    results = _results()
    families = {name: getattr(r, "family") for name, r in results.items()}
    assert families == {"ping": 6, "tcp": 4, "async_tcp": 6, "sntp": 4}
    for name, result in results.items():
        assert _is_result(result), name
        doc = result.to_dict()  # type: ignore[attr-defined]
        assert json.loads(json.dumps(doc)) == doc, name


def test_family_rejects_address_family_constants() -> None:
    with pytest.raises(ValueError, match="family must be 4, 6 or None"):
        pynet.ping("127.0.0.1", count=1, family=socket.AF_INET)
