"""Generated files know they are generated; edits and hand-written text survive a re-import."""

from __future__ import annotations

import yaml

from gsotriage.cve.merge import (
    append_test,
    body_digest,
    fixed_by_block,
    generated_digest,
    merge_fix,
    render_signature,
    replace_block,
)

DOC = {
    "id": "x",
    "title": "t",
    "summary": "s",
    "mechanism": "line one\nline two\n",
    "maturity": "mined",
    "severity": "high",
    "tags": ["mined"],
    "fixed_by": [{"commit": "a" * 40, "subject": "s", "stable": ["6.1.1"], "verified_by": ["u"]}],
    "match": {"required": [{"crash_site": "f"}]},
    "tests": [],
}


def test_rendered_file_carries_its_digest_until_edited():
    text = render_signature(DOC, "CVE-2024-1")
    assert text.splitlines()[0].startswith("# yaml-language-server")
    assert generated_digest(text) == body_digest(text)
    assert yaml.safe_load(text)["mechanism"] == "line one\nline two\n"
    edited = text.replace("title: t", "title: a person's title")
    assert generated_digest(edited) != body_digest(edited)
    # Rewriting fixed_by (the importer's own field) is no edit.
    refreshed = replace_block(text, "fixed_by", fixed_by_block([{**DOC["fixed_by"][0], "stable": ["6.1.2"]}]))
    assert generated_digest(refreshed) == body_digest(refreshed)


def test_merge_fix_refreshes_record_fields_and_keeps_a_persons():
    mine = {
        "commit": "3d010c8031e3" + "0" * 28,
        "subject": "a person's subject",
        "stable": ["6.1.1"],
        "fixes": "9fd1ff5d2ac7",
        "verified_by": ["https://example.org/checked"],
    }
    record = {
        "commit": "3d010c8031e3" + "1" * 28,
        "subject": "record subject",
        "first_release": "v6.9",
        "cve": "CVE-2024-35884",
        "stable": ["6.1.85"],
        "unlisted": "affected",
        "verified_by": ["record-url"],
    }
    other = {"commit": "b" * 40, "subject": "other", "verified_by": ["x"]}
    merged = merge_fix([mine, other], record)
    assert merged[0]["subject"] == "a person's subject" and merged[0]["fixes"] == "9fd1ff5d2ac7"
    assert merged[0]["stable"] == ["6.1.85"] and merged[0]["first_release"] == "v6.9"
    assert merged[0]["verified_by"] == ["https://example.org/checked", "record-url"]
    assert merged[1] == other
    assert merge_fix([other], record)[-1] == record


def test_blocks_are_replaced_as_text():
    text = "id: x\n# a comment that stays\nfixed_by:\n  - commit: old\nmatch:\n  required: []\ntests:\n  - name: a\n"
    out = replace_block(text, "fixed_by", "fixed_by: []\n")
    assert "# a comment that stays" in out and "old" not in out and out.endswith("tests:\n  - name: a\n")
    out = append_test(out, {"name": "b", "expect": "match"})
    assert out.endswith("  - name: a\n  - name: b\n    expect: match\n")
    assert [t["name"] for t in yaml.safe_load(out)["tests"]] == ["a", "b"]
