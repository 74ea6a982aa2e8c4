"""Every failure qemuwrap reports to a user is a QemuwrapError.

The CLI catches only the root and prints its message as one line::

    QemuwrapError
     +-- UsageError        the command line cannot be understood (bad QemuOpts, JSON, if=)
     +-- ConflictError     two devices want one address, or the machine changed family
     +-- StateError        a state file cannot be read, parsed or written
     +-- MachineError      the pinned or requested machine type is not offered
     +-- QemuNotFoundError no real QEMU binary to exec, or qemuwrap would exec itself
"""


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
