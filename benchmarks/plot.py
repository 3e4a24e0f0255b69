"""``make bench-plot``: search latency against selectivity, mmarchive next to the DuckDB scan.

Reads every ``benchmarks/results/*.json`` written by ``make bench`` and draws one PNG,
``benchmarks/results/latency.png``, that the README shows beside the table.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    if not reports:
        raise SystemExit("no results yet: run `make bench SIZE=N` first")
    fig, axes = plt.subplots(1, len(reports), figsize=(6 * len(reports), 4.5), squeeze=False)
    for ax, report in zip(axes[0], reports, strict=True):
        queries = report["search"]
        x = [max(q["selectivity"], 1e-6) for q in queries]
        for key, label, marker in (
            ("auto", "mmarchive", "o"),
            ("duckdb", "DuckDB contains(lower())", "s"),
        ):
            ax.scatter(x, [q[key]["p50_ms"] for q in queries], label=label, marker=marker)
        for xi, q in zip(x, queries, strict=True):
            ax.annotate(q["query"], (xi, q["auto"]["p50_ms"]), fontsize=7, alpha=0.7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("share of messages matching")
        ax.set_ylabel("p50 latency, ms (warm, in-process)")
        ax.set_title(f"{report['size']:,} messages, mix {report['mix']}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out = RESULTS / "latency.png"
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
