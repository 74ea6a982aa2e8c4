"""Every failure qemuwrap reports to a user is a QemuwrapError.

The CLI catches only the root and prints its message as one line::

    QemuwrapError
     +-- UsageError        the command line cannot be understood (bad QemuOpts, JSON, if=),
     |                     or asks for what the installed QEMU does not offer
     +-- ConflictError     two devices want one address, or the machine changed family
     +-- StateError        a state file cannot be read, parsed, used or written
     +-- MachineError      the pinned or requested machine type is not offered
     +-- QemuNotFoundError no real QEMU binary to exec, or qemuwrap would exec itself
     +-- RefusedError      a qemuwrap-ctl request understood but not done

The wrapper exits 1 on any of them, as QEMU does on a bad option; qemuwrap-ctl
exits 2 on a UsageError (its usage) and 1 on the others.
"""

__all__ = ["ConflictError", "MachineError", "QemuNotFoundError", "QemuwrapError", "RefusedError",
           "StateError", "UsageError"]


class QemuwrapError(Exception):
    """Root of every error qemuwrap reports; its message is one line for stderr."""


class UsageError(QemuwrapError):
    """The QEMU command line is malformed in a way qemuwrap cannot pass on safely."""


class ConflictError(QemuwrapError):
    """Two devices claim the same address, or the command line contradicts the state."""


class StateError(QemuwrapError):
    """A state file is unreadable, unparsable, of an unknown schema, or cannot be written."""


class MachineError(QemuwrapError):
    """The machine type cannot be resolved or is not offered by the installed QEMU."""


class QemuNotFoundError(QemuwrapError):
    """No real QEMU binary could be found, or the one configured is qemuwrap itself."""


class RefusedError(QemuwrapError):
    """A qemuwrap-ctl request that is understood but not done (no state, a running guest)."""
