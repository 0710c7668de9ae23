"""Where a server command listens: checked when the flags enter, so an address this machine
cannot use, or a port another program holds, is one line naming the flag (exit 2), not the
web server's traceback or log line after it has started (``promolab serve``,
``promolab dashboard``)."""

from __future__ import annotations

import errno
import socket

from promolab.errors import InputError

HOST_EXPECTED = "an address or host name of this machine (127.0.0.1, 0.0.0.0, ::1, localhost)"


def check_listen(host: str, port: int, host_flag: str = "--host", port_flag: str = "--port") -> None:
    """Resolve ``host`` and bind ``(host, port)`` once, then let go: raises InputError naming
    ``host_flag`` when the address does not resolve or is not this machine's, ``port_flag`` when
    the port is out of range or in use."""
    if not 0 <= port <= 65535:
        raise InputError(port_flag, port, "a TCP port from 0 (any free one) to 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError, ValueError):  # unknown name, an idna label too long, a NUL byte
        raise InputError(host_flag, host, HOST_EXPECTED) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is fine
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(port_flag, port, "a free port (another program listens on it)") from None
            if exc.errno == errno.EACCES:  # ports below 1024 need privileges
                raise InputError(port_flag, port, "a port this user may open (1024 or above)") from None
            raise InputError(host_flag, host, HOST_EXPECTED) from None  # not this machine's address


__all__ = ["HOST_EXPECTED", "check_listen"]
