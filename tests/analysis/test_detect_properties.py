"""Property tests of input detection and reading (issue 15): any file is recognised or refused
with an InputError (exit 3), never another exception; a text is read into a report."""

from __future__ import annotations

import bz2
import gzip
import lzma

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsotriage.analysis import detect, load_report
from gsotriage.errors import InputError
from gsotriage.model import CrashReport
from tests.conftest import SEED

MAGICS = [b"", b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x04\x00", b"\x7fELF", b"KDUMP   ", b"makedumpfile", b"\x1f\x8b",
          b"\xfd7zXZ\x00", b"BZh9", b"\0", SEED.read_bytes()[:200]]  # fmt: skip
SETTINGS = settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
COMPRESS = {"none": lambda d: d, "gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress}


@SETTINGS
@given(st.sampled_from(MAGICS), st.binary(max_size=3000), st.sampled_from(sorted(COMPRESS)), st.data())
def test_any_file_is_detected_or_refused(tmp_path_factory, magic, body, how, data):
    packed = bytearray(COMPRESS[how](magic + body))
    if how != "none" and data.draw(st.booleans()):  # damage the compressed stream
        pos = data.draw(st.integers(0, len(packed)))
        packed[pos : pos + 4] = data.draw(st.binary(min_size=1, max_size=4))
    path = tmp_path_factory.mktemp("in") / "input"
    path.write_bytes(bytes(packed))
    try:
        kind = detect(str(path))
    except InputError:
        return
    assert kind.kind in ("text", "elf", "kdump", "kdump-flattened")
    if kind.kind == "text":
        try:
            report = load_report(kind)
        except InputError:
            return
        assert isinstance(report, CrashReport)
