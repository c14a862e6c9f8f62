"""The fork model: a process per client (the course's fork server, fixed).

The course reaps with one wait() per SIGCHLD, which loses children when two
exits merge into one signal and leaves zombies. Here each child is watched
through a pidfd where the system has them (Linux 5.3+), so its exit wakes
the server at once, and after every wake-up every exited child of ours is
reaped with waitpid(pid, WNOHANG): none is missed, and other children of the
process (subprocess.Popen's) are left alone."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from typing import Dict, NoReturn, Optional

from ._common import WAIT_S, Server, echo_stream

__all__ = ["serve_forever"]

_pidfd_open = getattr(os, "pidfd_open", None)


def _child(server: Server, listener: socket.socket, client: socket.socket) -> NoReturn:
    """The child's whole life: it never returns into the server's code."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        listener.close()
        echo_stream(server, client)
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def _reap(children: Dict[int, Optional[int]], sel: selectors.BaseSelector) -> int:
    """Collect every child of ours that has exited; how many."""
    reaped = 0
    for pid in list(children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid  # someone else reaped it
        if done == 0:
            continue
        reaped += 1
        pidfd = children.pop(pid)
        if pidfd is not None:
            sel.unregister(pidfd)
            os.close(pidfd)
    return reaped


def _end_children(children: Dict[int, Optional[int]], sel: selectors.BaseSelector) -> None:
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5 * WAIT_S
    while children and time.monotonic() < deadline:
        _reap(children, sel)
        if children:
            sel.select(0.05)  # pidfds wake us when a child ends
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        pidfd = children.pop(pid)
        if pidfd is not None:
            os.close(pidfd)


def serve_forever(server: Server) -> None:
    listener = server.sockets[0]
    listener.setblocking(False)
    bound = server.config.client_bound
    children: Dict[int, Optional[int]] = {}
    listening = True
    with selectors.DefaultSelector() as sel:
        sel.register(listener, selectors.EVENT_READ)
        sel.register(server.stop_fd, selectors.EVENT_READ)
        try:
            while not server.stopping:
                server.count("reaped", _reap(children, sel))
                if listening and len(children) >= bound:
                    sel.unregister(listener)  # the rest wait in the backlog
                    listening = False
                elif not listening and len(children) < bound:
                    sel.register(listener, selectors.EVENT_READ)
                    listening = True
                ready = sel.select(WAIT_S)
                if any(key.fileobj == server.stop_fd for key, _ in ready):
                    return
                if not any(key.fileobj is listener for key, _ in ready):
                    continue
                accepted = server.accept(listener)
                if accepted is None:
                    continue
                client, _ = accepted
                pid = os.fork()
                if pid == 0:
                    _child(server, listener, client)
                client.close()
                pidfd: Optional[int] = None
                if _pidfd_open is not None:
                    try:
                        pidfd = _pidfd_open(pid)
                    except OSError:
                        pidfd = None  # an old kernel: the timed wake-ups reap it
                if pidfd is not None:
                    sel.register(pidfd, selectors.EVENT_READ)
                children[pid] = pidfd
        finally:
            _end_children(children, sel)
