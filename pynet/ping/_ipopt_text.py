"""A reply's IPv4 options as iputils prints them after the reply line
(its pr_options): `RR: \\t<addr>` and a line per further address, `\\t(same
route)` when the route did not change, `TS: \\t<ms> absolute` and the
differences after it, source routes, NOPs and unknown options."""

from __future__ import annotations


from . import _ipopt as ipo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List

__all__ = ["OptionsText"]

NO_ADDRESS = bytes(4)
# Reads past an option's pointer stay inside this (iputils reads on into
# its buffer; a malformed option here reads zeros instead).
PAD = bytes(ipo.OPTIONS_SPACE)


class OptionsText:
    """Keeps the last route printed, as iputils does, for `(same route)`.
    name: how an address (4 packed bytes) is printed."""

    def __init__(self, name: Callable[[bytes], str]) -> None:
        self.name = name
        self.last_route = b""

    def _address(self, raw: bytes) -> str:
        return "\t0.0.0.0" if raw == NO_ADDRESS else "\t" + self.name(raw)

    def text(self, options: bytes) -> str:
        """What iputils appends to the reply line (which it ends after)."""
        out: List[str] = []
        left = len(options)
        i = 0
        while left > 0:
            kind = options[i]
            if kind == ipo.EOL:
                break
            if kind == ipo.NOP:
                left -= 1
                i += 1
                out.append("\nNOP")
                continue
            length = options[i + ipo.LENGTH] if i + ipo.LENGTH < len(options) else 0
            if length < 2 or length > left:
                break
            option = options[i:i + length] + PAD
            if kind in (ipo.LSRR, ipo.SSRR):
                out.append(self._source_route(option, length))
            elif kind == ipo.RR:
                out.append(self._route(option, length))
            elif kind == ipo.TS:
                out.append(self._timestamps(option, length))
            else:
                out.append(f"\nunknown option {kind:x}")
            left -= length
            i += length
        return "".join(out)

    def _source_route(self, option: bytes, length: int) -> str:
        text = f"\n{'S' if option[ipo.TYPE] == ipo.SSRR else 'L'}SRR: "
        left = min(option[ipo.POINTER], length)
        at = ipo.RR_FIRST - 1
        while left > ipo.RR_FIRST:
            text += self._address(option[at:at + 4]) + "\n"
            at += 4
            left -= 4
        return text

    def _route(self, option: bytes, length: int) -> str:
        filled = min(option[ipo.POINTER], length) - ipo.RR_FIRST
        if filled <= 0:
            return ""
        # iputils compares from the pointer byte on, that many bytes.
        key = option[ipo.POINTER:ipo.POINTER + filled]
        if key == self.last_route:
            return "\t(same route)"
        self.last_route = key
        text = "\nRR: "
        at = ipo.RR_FIRST - 1
        while filled > 0:
            text += self._address(option[at:at + 4]) + "\n"
            at += 4
            filled -= 4
        return text

    def _timestamps(self, option: bytes, length: int) -> str:
        left = min(option[ipo.POINTER], length) - ipo.TS_FIRST
        if left <= 0:
            return ""
        flags = option[ipo.TS_FLAGS]
        text = "\nTS: "
        at = ipo.TS_FIRST - 1
        standard = nonstandard = 0
        while True:
            if flags & 0x0F != ipo.TS_TSONLY:
                text += self._address(option[at:at + 4])
                at += 4
                left -= 4
                if left <= 0:
                    break
            (value,) = ipo.WORD.unpack_from(option, at)
            at += 4
            if value & ipo.NONSTANDARD:
                value &= ~ipo.NONSTANDARD
                if nonstandard == 0:
                    text += f"\t{value} absolute not-standard"
                else:
                    text += f"\t{value - nonstandard} not-standard"
                nonstandard = value
            else:
                text += f"\t{value} absolute" if standard == 0 else f"\t{value - standard}"
                standard = value
            left -= 4
            text += "\n"
            if left <= 0:
                break
        if flags >> 4:
            text += f"Unrecorded hops: {flags >> 4}\n"
        return text
