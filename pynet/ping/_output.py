"""iputils ping's text, line for line: the header, reply and error lines,
flood dots, and the statistics block."""

from __future__ import annotations

import errno
import os
import socket

from .. import _ping_loop as pl
from .._ping_loop import Counters, Record
from ._icmp_text import describe
from ._ipopt_text import OptionsText
from ._result import address_text
from ._stats import RttStats, format_ms, loss_text, rtt_us

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, TextIO

__all__ = ["TextOutput", "header"]

# iputils sends a struct timeval in the payload and times replies only
# when it fits; below that it prints no time= and no rtt line.
TIMEVAL_LEN = 16
# The IPv4 and ICMP headers, as the header line counts them.
HEADERS_LEN = 28
# iputils' hex dump after a wrong data byte: a line every 32 bytes.
DUMP_LINE = 32


def header(host: str, address: str, family: int, size: int, source: Optional[str],
           device: Optional[str], options_len: int = 0, flowlabel: int = 0) -> str:
    """options_len: the IPv4 option room the requests take (-R, -T: 40,
    counted as iputils counts it); flowlabel: -F's label, as the kernel gave it."""
    via = f"from {source} {device or ''}: " if source is not None else ""
    if family == 4:
        total = size + HEADERS_LEN + options_len
        return f"PING {host} ({address}) {via}{size}({total}) bytes of data."
    flow = f", flow 0x{flowlabel:05x}, " if flowlabel else ""
    return f"PING {host}({address}) {flow}{via}{size} data bytes"


def dump(payload: bytes) -> str:
    """iputils' dump of a reply's payload past the timestamp, after a wrong byte."""
    parts = []
    for i in range(TIMEVAL_LEN, len(payload)):
        if i % DUMP_LINE == TIMEVAL_LEN:
            parts.append(f"\n#{i}\t")
        parts.append(f"{payload[i]:x} ")
    return "".join(parts)


class TextOutput:
    """Prints a run as iputils does. prog prefixes the stderr lines."""

    def __init__(self, out: TextIO, err: TextIO, *, family: int, size: int, numeric: bool,
                 quiet: bool, flood: bool, timestamps: bool, prog: str = "ping",
                 precise: bool = False, audible: bool = False) -> None:
        self.out = out
        self.err = err
        self.family = family
        self.size = size
        self.numeric = numeric
        self.quiet = quiet
        self.flood = flood
        self.timestamps = timestamps
        self.prog = prog
        self.precise = precise      # -3: microseconds, unrounded
        self.audible = audible      # -a: a bell after each reply
        self.timing = size >= TIMEVAL_LEN
        self.names: Dict[bytes, str] = {}
        self.dots = 0
        self.options = OptionsText(self.name)

    def name(self, raw: bytes) -> str:
        """pr_addr(): the address, or `name (address)` unless -n."""
        text = self.names.get(raw)
        if text is None:
            address = address_text(self.family, raw)
            text = address
            if not self.numeric:
                try:
                    name = socket.getnameinfo((address, 0), 0)[0]
                except OSError:
                    name = ""
                if name:
                    text = f"{name} ({address})"
            self.names[raw] = text
        return text

    def _stamp(self, when_ns: int) -> str:
        if not self.timestamps:
            return ""
        return f"[{when_ns // 1_000_000_000}.{(when_ns // 1000) % 1_000_000:06d}] "

    def _warn(self, text: str) -> None:
        self.out.flush()
        print(f"{self.prog}: {text}", file=self.err, flush=True)

    def _local(self, r: Record) -> None:
        if r[0] == pl.SEND_FAILED and r[8] == errno.EMSGSIZE:
            return  # the kernel queues it as a local error with the MTU, printed then
        if r[0] == pl.SEND_FAILED:
            self._warn(f"sendmsg: {os.strerror(r[8])}")
        elif r[8] == errno.EMSGSIZE:  # the kernel says which MTU refused it
            sep = "=" if self.family == 4 else ": "
            self._warn(f"local error: message too long, mtu{sep}{r[7]}")
        else:
            self._warn(f"local error: {os.strerror(r[8])}")

    def _line(self, r: Record, payload: bytes = b"") -> Optional[str]:
        kind, seq = r[0], r[1]
        stamp = self._stamp(r[9])
        if kind == pl.REPLY:
            nbytes, ttl, flags = r[4], r[3], r[5]
            line = f"{stamp}{nbytes} bytes from {self.name(r[10])}: icmp_seq={seq}"
            if ttl >= 0:
                line += f" ttl={ttl}"
            if nbytes < self.size + 8:
                return line + " (truncated)"
            if self.timing:
                us = rtt_us(r[2])
                shown = f"{us // 1000}.{us % 1000:03d}" if self.precise else format_ms(us)
                line += f" time={shown} ms"
            if flags & pl.DUP:
                line += " (DUP!)"
            if flags & pl.BAD_CHECKSUM:
                line += " (BAD CHECKSUM!)"
            if flags & pl.WRONG_DATA:
                line += (f"\nwrong data byte #{r[6]} should be 0x{r[7]:x} "
                         f"but was 0x{r[8]:x}") + dump(payload)
            if self.audible:
                line += "\a"
            if r[11]:
                line += self.options.text(r[12][:r[11]])
            return line
        if kind == pl.ERROR:
            return f"{stamp}From {self.name(r[10])} icmp_seq={seq} " + \
                describe(self.family, r[6], r[7], r[8])
        if kind == pl.NOTICE:
            return f"{stamp}From {self.name(r[10])}: icmp_seq={seq} " + \
                describe(self.family, r[6], r[7], r[8])
        if kind == pl.OUTSTANDING:
            return f"{stamp}no answer yet for icmp_seq={seq}"
        return None

    def _flood_mark(self, r: Record) -> str:
        kind = r[0]
        if kind == pl.REPLY:
            if r[5] & pl.BAD_CHECKSUM:
                return "\bC"
            return "\b \b\a" if self.audible else "\b \b"
        if kind == pl.ERROR:
            return "\bE"
        if kind in (pl.SEND_FAILED, pl.LOCAL_ERROR):
            return "E"
        return ""

    def batch(self, records: List[Record], new_sent: int, wrong_payload: bytes = b"") -> None:
        """wrong_payload: the payload of the batch's reply whose data
        differed (the loop ends a batch with it), for iputils' dump."""
        if self.quiet:
            return
        if self.flood:
            # The dots of this batch's requests first, then a backspace per
            # answer: the screen ends up as iputils leaves it.
            text = "." * new_sent + "".join(self._flood_mark(r) for r in records)
            if text:
                self.out.write(text)
                self.out.flush()
            return
        lines: List[str] = []
        for r in records:
            if r[0] in (pl.SEND_FAILED, pl.LOCAL_ERROR):
                if lines:
                    self.out.write("\n".join(lines) + "\n")
                    lines = []
                self._local(r)
                continue
            line = self._line(r, wrong_payload)
            if line is not None:
                lines.append(line)
        if lines:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()

    def summary(self, host: str, c: Counters, stats: RttStats, interval_s: float) -> None:
        """finish(): the blank line and the statistics block."""
        elapsed_us = max(0, c.last_send_ns - c.first_send_ns) // 1000
        counts = f"{c.transmitted} packets transmitted, {c.received} received"
        if c.duplicates:
            counts += f", +{c.duplicates} duplicates"
        if c.corrupted:
            counts += f", +{c.corrupted} corrupted"
        if c.errors:
            counts += f", +{c.errors} errors"
        if c.transmitted:
            counts += f", {loss_text(c.transmitted, c.received)}% packet loss"
            counts += f", time {(elapsed_us + 500) // 1000}ms"
        parts = []
        if c.received and self.timing:
            line = stats.line()
            if line:
                parts.append(line)
        if c.pipesize > 1:
            parts.append(f"pipe {c.pipesize}")
        if c.received and (interval_s == 0 or self.flood) and c.transmitted > 1:
            ipg = elapsed_us // (c.transmitted - 1)
            ewma = stats.ewma
            parts.append(f"ipg/ewma {ipg // 1000}.{ipg % 1000:03d}/"
                         f"{ewma // 8000}.{(ewma // 8) % 1000:03d} ms")
        self.out.write(f"\n--- {host} ping statistics ---\n{counts}\n{', '.join(parts)}\n")
        self.out.flush()
