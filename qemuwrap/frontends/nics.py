"""NICs: ``-nic``, ``-net nic`` with its backends and hubs (the old ``vlan=``), and the
ISA NICs that stay as they were with their MAC made explicit."""

from __future__ import annotations

from qemuwrap import identity, qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.frontends.context import Context
from qemuwrap.model import Device, Phase, parse_addr
from qemuwrap.qemuopts import Opts

__all__ = ["NIC_MODELS", "Nics"]

NIC_MODELS = {"virtio": "virtio-net-pci"}
"""``model=`` names that are not device names."""


class Nics(Context):
    """``-nic`` and ``-net``."""

    def nic(self, token: Token, opts: Opts, order: tuple[int, ...], backend: tuple[str, ...],
            netdev: str | None, mac_key: str) -> Device:
        model = opts.get("model") or self.layout.default_nic
        driver = self.facts.driver(NIC_MODELS.get(model, model))
        mac = opts.get(mac_key)
        props = opts.without("type", "model", mac_key, "addr", "netdev", "name", "id", "vlan")
        if netdev:
            props = Opts((("netdev", netdev),) + props.pairs)
        if opts.get("id") and token.name == "net":
            props = props.with_("id", opts.get("id") or "")
        addr = opts.get("addr")
        slot, fn = parse_addr(addr) if addr is not None else (None, 0)
        return Device(driver=driver, space="pci", order=order, nic=True, props=props, mac=mac,
                      key=identity.mac(mac) if mac else "", slot=slot, function=fn,
                      before=backend)

    def nic_option(self, token: Token, opts: Opts, nth: int) -> None:
        """``-nic TYPE,model=,mac=,...``: a backend of its own and a NIC on it."""
        kind = opts.get("type") or "user"
        model = opts.get("model") or self.layout.default_nic
        if kind == "none":
            self.items.append(token.raw)
            return
        if not self.facts.is_pci(NIC_MODELS.get(model, model)):
            self.add(self.isa_nic("nic", opts, self.at(Phase.NIC_OPTIONS), ()))
            return
        netdev = opts.get("id") or f"qwnic{nth}{self.suffix}"
        backend_opts = Opts((("type", kind), ("id", netdev))).pairs + opts.without(
            "type", "id", "model", "mac").pairs
        backend = ("-netdev", qemuopts.render(Opts(backend_opts), "type"))
        device_opts = Opts(tuple((k, v) for k, v in opts.pairs if k in ("model", "mac")))
        self.add(self.nic(token, device_opts, self.at(Phase.NIC_OPTIONS), backend, netdev, "mac"))

    def isa_nic(self, option: str, opts: Opts, order: tuple[int, ...],
                before: tuple[str, ...]) -> Device:
        """A NIC that is not on PCI (``ne2k_isa``) stays a ``-net``/``-nic`` option, with
        its MAC explicit, so that it takes the MAC QEMU would give it and keeps it."""
        mac_key = "mac" if option == "nic" else "macaddr"
        model = opts.get("model") or self.layout.default_nic
        mac = opts.get(mac_key)
        return Device(driver=self.facts.driver(model), space="isa", order=order, nic=True,
                      mac=mac, key=identity.mac(mac) if mac else "", before=before,
                      legacy=(option, opts.without(mac_key, "vlan"), mac_key))

    def pci_nic(self, opts: Opts) -> bool:
        model = opts.get("model") or self.layout.default_nic
        return self.facts.is_pci(NIC_MODELS.get(model, model))

    def net_group(self) -> None:
        """All ``-net`` options at once, one group per hub (the old ``vlan=N``, 0 by default).

        A group of one PCI NIC and at most one backend becomes a plain ``-netdev``
        pair. Otherwise each NIC gets a port on hub N; backends on hub 0 stay as they
        were (a ``-net`` backend joins hub 0), those of another hub become a ``-netdev``
        with a hub port. ``-net dump`` becomes a ``filter-dump`` on the group's first
        NIC. ``vlan=`` was removed in QEMU 3.0, so it is rewritten on every QEMU.
        """
        groups: dict[str, list[tuple[int, Token, Opts]]] = {}
        for entry in self.net_tokens:
            if not entry[2].has("netdev") and entry[2].get("type") != "none":
                groups.setdefault(entry[2].get("vlan") or "0", []).append(entry)
        for i, token, opts in self.net_tokens:
            if opts.get("type") == "nic" and opts.has("netdev"):
                if self.pci_nic(opts):
                    self.place_nic(i, token, opts, opts.get("netdev"), ())
                else:
                    self.place_isa_nic(i, opts, ())
        for vlan, members in groups.items():
            self.hub(vlan, members)

    def place_isa_nic(self, i: int, opts: Opts, before: tuple[str, ...]) -> None:
        self.items[i] = len(self.devices)
        self.devices.append(self.isa_nic("net", opts, (Phase.NET_NICS, i), before))

    def place_nic(self, i: int, token: Token, opts: Opts, netdev: str | None,
                  before: tuple[str, ...]) -> str | None:
        self.items[i] = len(self.devices)
        self.devices.append(self.nic(token, opts, (Phase.NET_NICS, i), before, netdev, "macaddr"))
        return netdev

    def hub(self, vlan: str, members: list[tuple[int, Token, Opts]]) -> None:
        nics = [m for m in members if m[2].get("type") == "nic"]
        dumps = [m for m in members if m[2].get("type") == "dump"]
        backends = [m for m in members if m not in nics and m not in dumps]
        direct = len(nics) == 1 and self.pci_nic(nics[0][2]) and len(backends) <= 1
        first_netdev: str | None = None
        for i, token, opts in nics:
            if direct:
                netdev = f"qwnet{vlan}{self.suffix}" if backends else None
                before: tuple[str, ...] = ()
            else:
                netdev = f"qwhub{i}{self.suffix}"
                before = ("-netdev", f"hubport,id={netdev},hubid={vlan}")
            if self.pci_nic(opts):
                self.place_nic(i, token, opts, netdev, before)
            elif opts.has("vlan") or vlan != "0":
                self.place_isa_nic(i, opts.with_("netdev", netdev or ""), before)
            else:
                self.place_isa_nic(i, opts, ())
            first_netdev = first_netdev or netdev
        for i, _token, opts in backends:
            if not direct and vlan == "0" and not opts.has("vlan"):
                continue
            ident = f"qwnet{vlan}" if direct else f"qwnet{vlan}x{i}"
            ident += self.suffix
            pairs = Opts((("type", opts.get("type")), ("id", ident))).pairs + opts.without(
                "type", "name", "id", "vlan").pairs
            words: tuple[str, ...] = ("-netdev", qemuopts.render(Opts(pairs), "type"))
            if not direct:
                port = f"qwport{vlan}x{i}{self.suffix}"
                words += ("-netdev", f"hubport,id={port},hubid={vlan},netdev={ident}")
            self.items[i] = words
        for i, _token, opts in dumps:
            if first_netdev is None:
                raise UsageError(f"-net dump on hub {vlan} has no NIC to capture")
            self.items[i] = _filter_dump(vlan, i, opts, first_netdev)


def _filter_dump(vlan: str, i: int, opts: Opts, netdev: str) -> tuple[str, ...]:
    """``-net dump``: a ``filter-dump`` object on the hub's first NIC."""
    dump: list[tuple[str, str | None]] = [
        ("qom-type", "filter-dump"), ("id", f"qwdump{i}"), ("netdev", netdev),
        ("file", opts.get("file") or f"qemu-vlan{vlan}.pcap")]
    if opts.has("len"):
        dump.append(("maxlen", opts.get("len")))
    return ("-object", qemuopts.render(Opts(tuple(dump)), "qom-type"))
