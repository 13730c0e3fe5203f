"""JUnit XML for ``gsotriage regress --junit``, in the Ant/Jenkins shape CI systems read.

testsuites > testsuite(name, tests, failures, errors, skipped, time, timestamp, hostname) >
testcase(name, classname, time) > failure(message, type) | error(message, type), system-out.
A regression is a failure; an input that could not be analysed is an error.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Optional, Sequence

from gsotriage.batch.regress import Comparison

__all__ = ["junit_xml"]


def _clean(text: str) -> str:
    # XML 1.0 cannot carry most control characters, even escaped.
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)


def junit_xml(results: Sequence[Comparison], *, suite: str, timestamp: Optional[datetime] = None) -> str:
    failures = sum(c.outcome == "regression" for c in results)
    errors = sum(c.outcome == "error" for c in results)
    total_time = sum(c.seconds for c in results)
    when = (timestamp or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    counts = {
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": f"{total_time:.3f}",
    }
    root = ET.Element("testsuites", {"name": "gsotriage regress", **counts})
    ts = ET.SubElement(
        root, "testsuite", {"name": _clean(suite), **counts, "timestamp": when, "hostname": socket.gethostname()}
    )
    for c in results:
        case = ET.SubElement(
            ts, "testcase", {"name": _clean(c.entry.name), "classname": "gsotriage.regress", "time": f"{c.seconds:.3f}"}
        )
        if c.outcome == "regression":
            el = ET.SubElement(case, "failure", {"message": _clean(c.message), "type": "regression"})
            el.text = _clean(f"{c.entry.path}: {c.message}")
        elif c.outcome == "error":
            el = ET.SubElement(case, "error", {"message": _clean(c.message), "type": "analysis-error"})
            el.text = _clean(f"{c.entry.path}: {c.message}")
        out = ET.SubElement(case, "system-out")
        out.text = _clean(f"{c.outcome}: {c.message}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
