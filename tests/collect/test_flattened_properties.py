"""Property tests of the flattened-dump reader (issue 15): any file either reassembles into exactly
the records it holds or fails with a FlattenedError, and leaves no file behind either way."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsotriage.collect.flattened import FlattenedError, reassemble

HEAD = (b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
SETTINGS = settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))

records = st.lists(st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=512)), min_size=1, max_size=12)


def flattened(recs, end=True) -> bytes:
    body = b"".join(struct.pack(">qq", off, len(data)) + data for off, data in recs)
    return HEAD + body + (struct.pack(">qq", -1, -1) if end else b"")


def leftovers(d):
    return [p for p in d.iterdir() if p.name.startswith("gsotriage-")]


@SETTINGS
@given(records)
def test_well_formed_records_land_at_their_offsets(tmp_path_factory, recs):
    d = tmp_path_factory.mktemp("flat")
    src = d / "in.flat"
    src.write_bytes(flattened(recs))
    expected = bytearray(max(off + len(data) for off, data in recs))
    for off, data in recs:  # later records overwrite earlier ones, as the writer intended
        expected[off : off + len(data)] = data
    r = reassemble(str(src), str(d))
    try:
        got = open(r.path, "rb").read()
    finally:
        r.close()
    # The header repair may fill utsname fields when the data starts with a kdump header.
    if not bytes(expected).startswith(b"KDUMP   "):
        assert got[: len(expected)] == bytes(expected)
    assert leftovers(d) == []


@SETTINGS
@given(records, st.data())
def test_any_damage_is_a_flattened_error_or_a_result(tmp_path_factory, recs, data):
    d = tmp_path_factory.mktemp("flat")
    raw = bytearray(flattened(recs, end=data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(raw)))
        raw[pos : pos + data.draw(st.integers(0, 24))] = data.draw(st.binary(max_size=24))
    src = d / "in.flat"
    src.write_bytes(bytes(raw))
    try:
        reassemble(str(src), str(d)).close()
    except FlattenedError:
        pass
    assert leftovers(d) == []
