"""``make demo``: ingest the bundled sample export into a temporary archive and run three searches.

The README shows the output of ``python -m cli.demo --markdown``; a test re-runs it and fails when
the README's copy no longer matches.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = "fixtures/sample-export"

# The three searches of the demo: one with Unless, one on ENVELOPE_TO, one with HAS_ATTACHMENTS
# and a time range.
DEMO_SEARCHES: tuple[tuple[str, ...], ...] = (
    (
        "--filters",
        '{"Include": [{"StringExpression": {"Evaluate": {"Attribute": "SUBJECT"}, '
        '"Operator": "CONTAINS", "Values": ["strasse"]}}], '
        '"Unless": [{"StringExpression": {"Evaluate": {"Attribute": "SUBJECT"}, '
        '"Operator": "CONTAINS", "Values": ["re:", "sv:"]}}]}',
        "--format",
        "table",
    ),
    (
        "--filters",
        '{"Include": [{"StringExpression": {"Evaluate": {"Attribute": "ENVELOPE_TO"}, '
        '"Operator": "CONTAINS", "Values": ["isil_celik@"]}}]}',
        "--max-results",
        "2",
    ),
    (
        "--filters",
        '{"Include": [{"BooleanExpression": {"Evaluate": {"Attribute": "HAS_ATTACHMENTS"}, '
        '"Operator": "IS_TRUE"}}]}',
        "--from-timestamp",
        "2024-03-01T00:00:00Z",
        "--to-timestamp",
        "2024-04-01T00:00:00Z",
        "--format",
        "table",
    ),
)


def _run(args: list[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"demo step failed: mmarchive {shlex.join(args)}\n{result.stderr}")
    return (result.stdout + result.stderr).rstrip("\n")


ARCHIVE_ID = re.compile(r"^Archive a-[0-9a-f]{24};", re.MULTILINE)


def demo_transcript() -> str:
    """The demo's commands and their real output, as a shell session (the new archive's random
    ArchiveId shown as ``a-…``)."""
    lines = ['$ ARCHIVE="$(mktemp -d)/archive"']
    with tempfile.TemporaryDirectory(prefix="mmarchive-demo-") as tmp:
        archive = str(Path(tmp) / "archive")
        steps = [["ingest", SAMPLE, archive]] + [
            ["search", archive, *search] for search in DEMO_SEARCHES
        ]
        for step in steps:
            shown = shlex.join(step).replace(shlex.quote(archive), '"$ARCHIVE"')
            lines.append(f"$ mmarchive {shown}")
            lines.append(ARCHIVE_ID.sub("Archive a-…;", _run(step)))
    return "\n".join(lines)


START, END = "<!-- demo:start -->", "<!-- demo:end -->"


def readme_block(text: str) -> str:
    """The demo transcript the README shows, between its markers."""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def as_markdown(transcript: str) -> str:
    return f"```console\n{transcript}\n```"


def main() -> None:
    transcript = demo_transcript()
    if "--update-readme" in sys.argv[1:]:
        readme = ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        old = readme_block(text)
        new = as_markdown(transcript)
        head, rest = text.split(START, 1)
        readme.write_text(head + START + "\n" + new + "\n" + END + rest.split(END, 1)[1])
        print("README.md updated" if old != new else "README.md already up to date")
    else:
        print(transcript)


if __name__ == "__main__":
    main()
