"""A small synchronous QMP client: enough for ``qemuwrap-ctl`` to read and change a running guest.

qemuwrap's runtime needs no more than this (connect, negotiate, execute, wait for an
event), so it does not pull in an asyncio library; the tests use ``qemu.qmp``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

from qemuwrap.errors import QemuwrapError

__all__ = ["QMP"]


class QMP:
    def __init__(self, path: str, timeout: float = 10,
                 connected: socket.socket | None = None) -> None:
        """``connected``: a socket already connected to ``path`` (one too long to name)."""
        self.timeout = timeout
        self.sock = connected or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            if connected is None:
                self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise QemuwrapError(f"cannot connect to QMP socket {path}: {exc.strerror}") from None
        self.stream = self.sock.makefile("rwb")
        self.events: list[dict[str, Any]] = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise QemuwrapError(f"{path} is not a QMP socket")
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        try:
            line = self.stream.readline()
        except OSError as exc:
            raise QemuwrapError(f"QMP read failed: {exc}") from None
        if not line:
            raise QemuwrapError("QEMU closed the QMP connection")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str, **arguments: Any) -> Any:
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.stream.write(json.dumps(request).encode() + b"\n")
        self.stream.flush()
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise QemuwrapError(f"QMP {command}: {reply['error'].get('desc', reply)}")
            if "event" in reply:
                self.events.append(reply)

    def wait_event(self, name: str, match: Callable[[dict[str, Any]], bool],
                   timeout: float) -> dict[str, Any] | None:
        """The first event ``name`` whose data ``match``es, seen already or arriving within
        ``timeout`` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("event") == name and match(event.get("data", {})):
                    self.events.remove(event)
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                line = self.stream.readline()
            except TimeoutError:
                return None
            except OSError as exc:
                raise QemuwrapError(f"QMP read failed: {exc}") from None
            finally:
                self.sock.settimeout(self.timeout)
            if not line:
                raise QemuwrapError("QEMU closed the QMP connection")
            message = json.loads(line)
            if "event" in message:
                self.events.append(message)

    def hmp(self, command: str) -> str:
        return str(self.execute("human-monitor-command", **{"command-line": command}))

    def hmp_checked(self, command: str) -> None:
        """An HMP command that prints nothing (or ``OK``) when it works: any other output
        is QEMU's error message."""
        out = self.hmp(command).strip()
        if out and out != "OK":
            raise QemuwrapError(out.splitlines()[0].removeprefix("Error: "))

    def close(self) -> None:
        self.stream.close()
        self.sock.close()

    def __enter__(self) -> QMP:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
