"""The one HTTP request the client builds itself: a proper HTTP/1.0 GET.

The course sends ``GET / HTTP/1.0\\n\\n``: bare LF line ends (RFC 1945 wants
CRLF) and no Host header, which every name-based virtual host needs.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import quote

from .. import __version__

__all__ = ["http_get"]

CRLF = "\r\n"
DEFAULT_HTTP_PORT = 80
# Characters a request target may carry as they are (RFC 3986 unreserved,
# sub-delims, ':', '@', '/', '?', and '%' of an existing escape).
_TARGET_SAFE = "-._~!$&'()*+,;=:@/?%"


def _host_header(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    name = f"[{host}]" if is_v6 else host
    return name if port == DEFAULT_HTTP_PORT else f"{name}:{port}"


def http_get(host: str, path: str = "/", port: int = DEFAULT_HTTP_PORT) -> bytes:
    """``GET path HTTP/1.0`` with Host, User-Agent and Connection: close,
    CRLF line ends. Non-ASCII characters in path are percent-encoded; a path
    that does not start with '/' or holds whitespace or control characters is
    a ValueError (it would split the request line)."""
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"HTTP path must start with '/', got {path!r}")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise ValueError(f"HTTP path must not contain whitespace or control characters: {path!r}")
    if any(ch in host for ch in "\r\n\t /"):
        raise ValueError(f"not a host name for the Host header: {host!r}")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not a host name for the Host header: {host!r}") from None
    target = quote(path, safe=_TARGET_SAFE)
    lines = [
        f"GET {target} HTTP/1.0",
        f"Host: {_host_header(host, port)}",
        f"User-Agent: pynet/{__version__}",
        "Accept: */*",
        "Connection: close",
        "",
        "",
    ]
    return CRLF.join(lines).encode("ascii")
