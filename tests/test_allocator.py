"""The allocator's promises as properties: unique spots, pins kept, tombstones wait, room grows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qemuwrap.allocator import Bus, Request, Retired, allocate
from qemuwrap.errors import ConflictError

T0 = datetime(2026, 1, 1)
ROOT = Bus("pci.0", tuple(range(2, 32)), growable=True)


def grower() -> tuple[list[str], object]:
    made: list[str] = []

    def grow(bus: str, slot: int) -> Bus:
        made.append(f"{bus}:{slot}")
        return Bus(f"br{len(made)}", tuple(range(32)), growable=True)

    return made, grow


def test_first_launch_is_qemu_order() -> None:
    placed = allocate([Request(f"d{i}") for i in range(5)], [ROOT], {}, {}).placed
    assert [placed[f"d{i}"] for i in range(5)] == [("pci.0", s, 0) for s in range(2, 7)]


def test_explicit_addresses_are_skipped_by_the_others() -> None:
    placed = allocate([Request("a"), Request("b", spot=("pci.0", 2, 0)), Request("c")],
                      [ROOT], {}, {}).placed
    assert placed == {"a": ("pci.0", 3, 0), "b": ("pci.0", 2, 0), "c": ("pci.0", 4, 0)}


def test_explicit_collision_with_a_pin_names_both() -> None:
    with pytest.raises(ConflictError, match=r"b asks for pci\.0 05\.0, where a is pinned"):
        allocate([Request("a"), Request("b", spot=("pci.0", 5, 0))], [ROOT],
                 {"a": ("pci.0", 5, 0)}, {})


def test_last_root_slot_is_kept_for_a_bridge() -> None:
    made, grow = grower()
    requests = [Request(f"d{i}") for i in range(40)]
    placed = allocate(requests, [ROOT], {}, {}, grow).placed  # type: ignore[arg-type]
    assert made == ["pci.0:31"]
    assert sum(1 for s in placed.values() if s[0] == "pci.0") == 29
    assert sum(1 for s in placed.values() if s[0] == "br1") == 11


def test_tombstone_reused_only_when_nothing_else_is_left() -> None:
    ide = Bus("ide.1", (0, 1))
    retired = {"old": Retired(("ide.1", 0, 0), T0)}
    placed = allocate([Request("new", bus="ide.1")], [ide], {}, retired)
    assert placed.placed["new"] == ("ide.1", 1, 0)
    both = allocate([Request("x", bus="ide.1"), Request("y", bus="ide.1")], [ide], {}, retired)
    assert both.placed == {"x": ("ide.1", 1, 0), "y": ("ide.1", 0, 0)}
    assert both.reused == {"old"}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Request], dict[str, tuple[str, int, int]],
                                        dict[str, Retired]]:
    n = draw(st.integers(0, 70))
    keys = [f"k{i}" for i in range(n)]
    slots = st.integers(2, 31)
    pinned: dict[str, tuple[str, int, int]] = {}
    taken: set[int] = set()
    for key in draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []:
        slot = draw(slots)
        if slot not in taken:
            taken.add(slot)
            pinned[key] = ("pci.0", slot, 0)
    retired: dict[str, Retired] = {}
    for i in range(draw(st.integers(0, 6))):
        slot = draw(slots)
        if slot not in taken:
            taken.add(slot)
            retired[f"gone{i}"] = Retired(("pci.0", slot, 0), T0 + timedelta(days=i))
    order = draw(st.permutations(keys))
    return [Request(k) for k in order], pinned, retired


@given(scenarios())
def test_properties(case: tuple[list[Request], dict[str, tuple[str, int, int]],
                                dict[str, Retired]]) -> None:
    requests, pinned, retired = case
    _, grow = grower()
    result = allocate(requests, [ROOT], pinned, retired, grow)  # type: ignore[arg-type]
    spots = list(result.placed.values())
    assert len(spots) == len(set(spots)) == len(requests), "one spot per device"
    for key, spot in pinned.items():
        assert result.placed[key] == spot, "a pinned device never moves"
    assert not result.reused, "with bridges to grow, a removed device's slot is never reused"
    assert not {r.spot for r in retired.values()} & set(spots)
