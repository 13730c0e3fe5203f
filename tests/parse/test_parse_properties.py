"""Property tests of the text parsers (issue 15, fuzzing campaign in the normal run): whatever the
text, parsing returns a report (never raises), the report round-trips through JSON, and noise
around a real crash does not lose it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsotriage.model import CrashReport, report_from_dict, report_to_dict
from gsotriage.parse import decode_bytes, parse_text
from tests.conftest import CASES, SEED

REAL = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(CASES.glob("*.txt"))]
SEED_TEXT = SEED.read_text(encoding="utf-8")
TOKENS = [
    "Call Trace:", "<IRQ>", "</IRQ>", "<TASK>", "</TASK>", "RIP: 0010:", "BUG: ", "Oops: ", "---[ end trace",
    "Kernel panic - not syncing:", "crash> bt", " #0 [", "? ", "+0x", "/0x", "[", "]", "\0", "\r", "\t", "\ufffd",
    "kernel BUG at ", "WARNING: CPU: ", "gso_type = ", "frag_list = ", "Modules linked in:", "PID: ", "\n",
]  # fmt: skip
SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))

lines = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(max_size=80), st.sampled_from(SEED_TEXT.splitlines())), max_size=60
).map(lambda parts: "".join(parts))


@st.composite
def mutated_real_log(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 200))
        text = text[:pos] + draw(lines) + text[pos + cut :]
    return text


def _check(report: CrashReport) -> None:
    assert isinstance(report, CrashReport)
    assert report_from_dict(report_to_dict(report)) == report


@SETTINGS
@given(st.binary(max_size=4096))
def test_any_bytes_parse_to_a_report(data):
    _check(parse_text(decode_bytes(data)))


@SETTINGS
@given(lines)
def test_token_soup_parses_to_a_report(text):
    _check(parse_text(text))


@SETTINGS
@given(mutated_real_log())
def test_mutated_real_logs_parse_to_a_report(text):
    _check(parse_text(text))


@SETTINGS
@given(st.lists(st.text(alphabet="abcdefghij klmnopqrstuvwxyz0123456789.=-", max_size=100), max_size=50))
def test_plain_noise_before_and_after_a_real_crash_does_not_lose_it(noise):
    block = "\n".join(noise)
    expected = parse_text(SEED_TEXT).panic.function
    assert expected is not None
    assert parse_text(block + "\n" + SEED_TEXT + "\n" + block).panic.function == expected
