"""Network context of a kernel: devices (features as ethtool names), tc/XDP BPF programs, modules.

Feature names come from the dump's own ``netdev_features_strings`` table (what
``ethtool -k`` prints), indexed by feature bit, so vendor backports are named
right. Each part is guarded by the caller: a failure here becomes a note.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from gsotriage.model import BpfProgram, NetDevice

__all__ = ["bpf_programs", "feature_names", "modules", "net_devices"]

_MAX_DEVICES = 512
_MAX_PROGS = 1024
# BPF program types that attach to the datapath where GSO skbs live (tc, XDP, lwt).
_DATAPATH_TYPES = frozenset(
    {"BPF_PROG_TYPE_SCHED_CLS", "BPF_PROG_TYPE_SCHED_ACT", "BPF_PROG_TYPE_XDP", "BPF_PROG_TYPE_LWT_XMIT"}
)
TAINT_OOT_MODULE = 12


def _feature_table(prog: Any) -> Dict[int, str]:
    cached = prog.cache.get("gsotriage.features")
    if cached is not None:
        return dict(cached)
    table: Dict[int, str] = {}
    strings = prog["netdev_features_strings"]
    for bit in range(len(strings)):
        name = strings[bit].string_().decode("ascii", "replace")
        if name:
            table[bit] = name
    # Bits the string table lacks: name them from enum netdev_features (NETIF_F_<X>_BIT).
    try:
        for name, value, *_ in prog.type("enum netdev_features").enumerators:
            if name.endswith("_BIT") and int(value) not in table and not name.startswith("NETDEV_FEATURE"):
                table[int(value)] = name[: -len("_BIT")]
    except LookupError:
        pass
    prog.cache["gsotriage.features"] = table
    return table


def feature_names(prog: Any, mask: int) -> Tuple[str, ...]:
    table = _feature_table(prog)
    return tuple(table.get(bit, f"bit{bit}") for bit in range(mask.bit_length()) if mask >> bit & 1)


def _str(obj: Any) -> Optional[str]:
    try:
        if not int(obj.value_()):
            return None
        return str(obj.string_().decode("utf-8", "replace"))
    except Exception:
        return None


def _prog_name(bpf_prog: Any) -> Optional[str]:
    """:param bpf_prog: struct bpf_prog *"""
    try:
        if not int(bpf_prog.value_()):
            return None
        name = bpf_prog.aux.name.string_().decode("utf-8", "replace")
        return name or f"bpf_prog@{int(bpf_prog.value_()):#x}"
    except Exception:
        return None


def _xdp_prog(dev: Any) -> Optional[str]:
    """:param dev: struct net_device *; generic XDP in ``xdp_prog``, driver/offload modes in ``xdp_state``."""
    try:
        name = _prog_name(dev.xdp_prog)
        if name:
            return f"{name} (generic)"
    except AttributeError:
        pass
    try:
        for mode, label in ((1, "native"), (2, "offload"), (0, "generic")):
            name = _prog_name(dev.xdp_state[mode].prog)
            if name:
                return f"{name} ({label})"
    except (AttributeError, IndexError):
        pass
    return None


def _tc_kinds(dev: Any) -> Optional[Tuple[str, ...]]:
    """Classifier kinds attached via clsact (``miniq_ingress``/``miniq_egress``, up to 6.5; 6.6+ ``tcx_*``).

    :param dev: struct net_device *
    """
    out: List[str] = []
    seen_any = False
    for direction in ("ingress", "egress"):
        for attr in (f"miniq_{direction}", f"tcx_{direction}"):
            try:
                miniq = getattr(dev, attr)
            except AttributeError:
                continue
            seen_any = True
            if not int(miniq.value_()):
                continue
            if attr.startswith("tcx"):
                out.append(f"tcx {direction}")
                continue
            try:
                tp = miniq.filter_list
                n = 0
                while int(tp.value_()) and n < 32:
                    kind = tp.ops.kind.string_().decode()
                    out.append(f"{kind} {direction}")
                    tp = tp.next
                    n += 1
            except Exception:
                out.append(f"clsact {direction}")
    return tuple(out) if seen_any else None


def _kind(dev: Any) -> Optional[str]:
    try:
        ops = dev.rtnl_link_ops
        if not int(ops.value_()):
            return None
        return _str(ops.kind)
    except Exception:
        return None


def _driver(dev: Any) -> Optional[str]:
    try:
        parent = dev.dev.parent
        if not int(parent.value_()) or not int(parent.driver.value_()):
            return None
        return _str(parent.driver.name)
    except Exception:
        return None


def net_devices(prog: Any, notes: List[str]) -> Tuple[NetDevice, ...]:
    """Every net device in every network namespace (bounded)."""
    from drgn.helpers.linux.net import for_each_net, for_each_netdev

    out: List[NetDevice] = []
    for ns_index, net in enumerate(for_each_net(prog)):
        for dev in for_each_netdev(net):
            if len(out) >= _MAX_DEVICES:
                notes.append(f"net devices: stopped after {_MAX_DEVICES}")
                return tuple(out)
            name = dev.name.string_().decode("utf-8", "replace")
            if ns_index:
                name = f"{name}@netns{ns_index}"
            try:
                features = feature_names(prog, int(dev.features.value_()))
                hw = feature_names(prog, int(dev.hw_features.value_()))
                partial = feature_names(prog, int(dev.gso_partial_features.value_()))
            except Exception as exc:
                notes.append(f"net device {name}: features unreadable ({exc})")
                features = hw = partial = None  # type: ignore[assignment]
            out.append(
                NetDevice(
                    name=name,
                    kind=_kind(dev),
                    driver=_driver(dev),
                    features=features,
                    hw_features=hw,
                    gso_partial_features=partial,
                    mtu=int(dev.mtu.value_()),
                    xdp_prog=_xdp_prog(dev),
                    tc_progs=_tc_kinds(dev),
                )
            )
    return tuple(out)


def bpf_programs(prog: Any, devices: Tuple[NetDevice, ...]) -> Tuple[BpfProgram, ...]:
    """Loaded tc/XDP/lwt BPF programs (from the prog IDR); attach point for XDP from the devices.

    Programs of other types (cgroup, tracing...) are not datapath programs and are left out.
    """
    from drgn.helpers.linux.bpf import bpf_prog_for_each

    xdp = {}
    for d in devices:
        if d.xdp_prog:
            xdp[d.xdp_prog.split(" ")[0]] = f"xdp {d.name}"
    out: List[BpfProgram] = []
    for n, bp in enumerate(bpf_prog_for_each(prog)):
        if n >= _MAX_PROGS:
            break
        try:
            ptype = bp.type.format_(type_name=False)
        except Exception:
            ptype = None
        if ptype not in _DATAPATH_TYPES:
            continue
        name = _prog_name(bp)
        try:
            tag = bytes(bp.tag.value_()).hex()
        except Exception:
            tag = None
        attach = xdp.get(name or "") or ("tc (attach point not resolved)" if "SCHED" in (ptype or "") else None)
        out.append(BpfProgram(name=name, type=ptype, tag=tag, attach=attach))
    return tuple(out)


def modules(prog: Any) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(loaded module names, out-of-tree ones) in ``Modules linked in:`` order."""
    from drgn.helpers.linux.module import for_each_module

    names: List[str] = []
    oot: List[str] = []
    for mod in for_each_module(prog):
        name = mod.name.string_().decode("utf-8", "replace")
        names.append(name)
        try:
            if int(mod.taints.value_()) >> TAINT_OOT_MODULE & 1:
                oot.append(name)
        except Exception:  # noqa: S110
            pass
    return tuple(names), tuple(oot)
