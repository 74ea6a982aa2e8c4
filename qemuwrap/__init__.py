"""qemuwrap: a drop-in in front of QEMU that keeps a guest's hardware where it was."""

__all__ = ["__version__"]

__version__ = "0.1.0"
