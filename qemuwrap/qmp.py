"""A small synchronous QMP client: enough for ``qemuwrap-ctl check`` to read a running guest.

qemuwrap's runtime needs no more than this (connect, negotiate, execute), so it
does not pull in an asyncio library; the tests use ``qemu.qmp``.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from qemuwrap.errors import QemuwrapError


class QMP:
    def __init__(self, path: str, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise QemuwrapError(f"cannot connect to QMP socket {path}: {exc.strerror}") from None
        self.stream = self.sock.makefile("rwb")
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

    def hmp(self, command: str) -> str:
        return str(self.execute("human-monitor-command", **{"command-line": command}))

    def close(self) -> None:
        self.stream.close()
        self.sock.close()

    def __enter__(self) -> QMP:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
