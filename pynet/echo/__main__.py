"""`python -m pynet.echo`: run an echo server in any concurrency model.

Prints one line when it listens ("tcp echo server (native, uring) listening
on 127.0.0.1 port 30000"), so that scripts can wait for it; stops cleanly on
SIGINT (exit 130) or SIGTERM (exit 0), even one sent the moment the line
appears: the handlers are in place before it is printed. Errors are one
line, with the exit code of the error (2).
"""

from __future__ import annotations

import argparse
import resource
import signal
import sys
from types import FrameType
from typing import List, Optional

from .._cli import ArgumentParser, run_main, warn
from ._common import MODELS, POLLERS, describe

__all__ = ["main"]

PROG = "pynet echo"
EPILOG = """\
exit status: 0 stopped by SIGTERM, 130 stopped by SIGINT (Ctrl-C), 2 bad
usage or settings that cannot work (EchoConfigError), an address that cannot
be taken (BindError: in use, not this host's, denied) or resolved, or a
serving loop that failed."""


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Run a TCP or UDP echo server.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proto", choices=sorted(MODELS), default="tcp", help="default: tcp")
    p.add_argument("--model", choices=MODELS["tcp"],
                   help="concurrency model (default: native when the C backend is live, else "
                        "select; UDP: iterative or native)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; '' or 0.0.0.0 or :: for "
                        "every interface)")
    p.add_argument("--port", type=int, default=30000, help="default: 30000; 0 picks a free one")
    p.add_argument("--workers", type=int, default=1,
                   help="native model: this many event loops sharing the port (SO_REUSEPORT)")
    p.add_argument("--backlog", type=int, default=511, help="listen queue length (default 511)")
    p.add_argument("--max-clients", type=int, default=None,
                   help="clients served at once (default: 256 for thread and fork, else no bound)")
    p.add_argument("--poller", choices=POLLERS, default="auto",
                   help="native model: epoll, kqueue, poll, or uring (io_uring, TCP only) "
                        "(default: the best one here)")
    p.add_argument("-v", "--verbose", action="store_true", help="log clients to stderr")
    return p


def _raise_fd_limit() -> None:
    """As many descriptors as the hard limit allows: a descriptor per client."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def main(argv: List[str]) -> int:
    from . import default_model
    from . import open as open_server

    args = _parser().parse_args(argv)
    model = args.model or default_model(args.proto)
    # EchoConfigError and BindError go up to run_main: one line, their exit_code.
    server = open_server(args.host, args.port, proto=args.proto, model=model,
                         workers=args.workers, backlog=args.backlog,
                         max_clients=args.max_clients, poller=args.poller,
                         verbose=args.verbose)
    received: List[int] = []

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        received.append(signum)
        server.stop_soon()

    with server:
        # The handlers go in before the startup line is printed: a script
        # may stop the server the moment it reads the line, and a SIGTERM
        # that beat them would kill the process uncleanly (exit -15). A
        # signal that arrives before serving begins leaves a byte in the
        # stop pipe, and serve_forever() then returns at once.
        # The C loop holds no Python frame while it waits: Python's own
        # signal handler writes to the wake-up descriptor, which the loop
        # watches, and the Python-level handler then runs once it returns.
        signal.set_wakeup_fd(server.wakeup_fd, warn_on_full_buffer=False)
        old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            _raise_fd_limit()
            if server.config.all_interfaces:
                warn(PROG, f"warning: listening on every interface ({server.address[0]}): "
                           "other hosts can connect")
            poller = ""
            if model == "native":
                from .native import poller_name
                poller = poller_name(server.config)
            print(describe(server.config, server.address, poller), flush=True)
            server.serve_forever()
        finally:
            signal.set_wakeup_fd(-1)
            for sig, handler in old.items():
                signal.signal(sig, handler)
        if server.config.verbose:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(server.stats.items()) if v)
            warn(PROG, f"stopped: {counts or 'no clients'}")
    return 130 if signal.SIGINT in received else 0


if __name__ == "__main__":
    sys.exit(run_main(PROG, main))
