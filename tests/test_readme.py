"""The README shows the demo's real output: re-run it and compare."""

from __future__ import annotations

from cli.demo import ROOT, as_markdown, demo_transcript, readme_block


def test_readme_demo_matches_a_real_run() -> None:
    shown = readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert shown == as_markdown(demo_transcript()), (
        "README.md's demo is stale: run `.venv/bin/python -m cli.demo --update-readme`"
    )
