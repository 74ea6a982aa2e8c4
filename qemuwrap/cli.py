"""``qemuwrap``: the command-line entry point. Every error is one line on stderr."""

from __future__ import annotations

import sys

from qemuwrap.errors import QemuwrapError

__all__ = ["main"]


def main(argv: list[str] | None = None, replay_first: bool = True) -> int:
    """``replay_first=False`` where the caller has tried the replay already (bin/qemuwrap)."""
    args = list(sys.argv if argv is None else argv)
    if replay_first:
        from qemuwrap import replay

        replay.run(args)
    from qemuwrap.launch import run

    try:
        run(args)
    except QemuwrapError as exc:
        print(f"qemuwrap: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
