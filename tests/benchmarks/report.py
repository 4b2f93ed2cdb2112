"""Tables and plots from the benchmark results: docs/benchmarks.md's server section and PNGs.

    .venv/bin/python tests/benchmarks/report.py [--results DIR] [--img DIR] [--no-write]

Reads ``http.json``, ``h2.json``, ``ws.json`` (this folder's benchmarks) and
``layers.json`` (layer_bench.py) from ``--results``; whichever exist. Prints the summary
table, draws ``bench-http.png``, ``bench-bodies.png``, ``bench-h2-ws.png`` and
``bench-layers.png`` into ``--img`` (docs/img), and replaces the ``## Servers`` section of
docs/benchmarks.md unless ``--no-write``.

Ratios are per round: asgid's figure over the best Python peer's in the same round (the
servers ran one after the other within each round), then the median of those ratios and
their range. Above 1x is better for rates; below 1x is better for latency, memory and
start-up (marked "lower is better").
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (  # noqa: E402
    ALL_SERVERS,
    PYTHON_PEERS,
    REPO,
    RESULTS,
    median,
    setup_logging,
    write_section,
)

logger = logging.getLogger("bench.report")
IMG = REPO / "docs" / "img"
LABELS = {"granian": "granian (Rust)"}


def load_results(folder: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name in ("http", "h2", "ws"):
        path = folder / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    layer = folder / "layers.json"  # layer_bench.py: {"results": {scenario: {unit: {layer: [..]}}}}
    if layer.exists():
        found["layers"] = {"rows": layer_rows(json.loads(layer.read_text()))}
    return found


def layer_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for scenario, units in payload.get("results", {}).items():
        for unit, values in units.items():
            rows.append(
                {"scenario": scenario, "unit": unit, "values": values,
                 "higher_is_better": unit.endswith("/s")}
            )  # fmt: skip
    return rows


def best_peer(row: dict[str, Any]) -> str | None:
    values = row["values"]
    peers = [p for p in PYTHON_PEERS if values.get(p)]
    if not peers:
        return None
    pick = max if row["higher_is_better"] else min
    return pick(peers, key=lambda p: median(values[p]))


def ratio_cell(row: dict[str, Any]) -> str:
    """asgid over the best Python peer, per round: median [min-max]."""
    peer = best_peer(row)
    ours = row["values"].get("asgid") or []
    if peer is None or not ours:
        return "-"
    theirs = row["values"][peer]
    pairs = (
        [(a, b) for a, b in zip(ours, theirs, strict=True) if b] if len(ours) == len(theirs) else []
    )
    ratios = [a / b for a, b in pairs] or [median(ours) / median(theirs)]
    text = f"{median(ratios):.2f}x {peer}"
    if len(ratios) > 1:
        text += f" [{min(ratios):.2f}-{max(ratios):.2f}]"
    return text


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def summary_table(results: dict[str, dict[str, Any]]) -> str:
    servers = [s for s in ALL_SERVERS if any(_has(results, s, b) for b in ("http", "h2", "ws"))]
    head = "| work | unit | " + " | ".join(LABELS.get(s, s) for s in servers)
    lines = [head + " | asgid / best Python peer |", "|---|---|" + "---:|" * (len(servers) + 1)]
    for bench in ("http", "h2", "ws"):
        for row in results.get(bench, {}).get("rows", []):
            cells = [
                fmt(median(row["values"][s])) if row["values"].get(s) else "–" for s in servers
            ]
            unit = row["unit"] + ("" if row["higher_is_better"] else ", lower is better")
            lines.append(
                f"| {row['title']} | {unit} | " + " | ".join(cells) + f" | {ratio_cell(row)} |"
            )
    return "\n".join(lines)


def _has(results: dict[str, dict[str, Any]], server: str, bench: str) -> bool:
    return any(row["values"].get(server) for row in results.get(bench, {}).get("rows", []))


def header(results: dict[str, dict[str, Any]]) -> str:
    first = next(iter(results.values()))
    names: dict[str, str] = {}
    for payload in results.values():
        names.update(payload.get("versions", {}))
    rounds = {payload.get("rounds") for name, payload in results.items() if name != "layers"}
    loads = [p["load_average"] for p in results.values() if "load_average" in p]
    load = (
        f" Load average when the benchmarks ended: up to {max(loads):.1f} (2 CPUs; a quiet "
        "machine is below 1, a busy one skews every figure)."
        if loads
        else ""
    )
    return (
        f"Run on {first['date']}: {first['machine']}.{load} "
        + ", ".join(f"{k} {v}" for k, v in sorted(names.items()))
        + f". Each server pinned to CPU 0, every load generator to CPU 1 (`taskset`); "
        f"{'/'.join(str(r) for r in sorted(rounds, key=str))} interleaved rounds; figures are "
        "medians of the rounds. Regenerate with `make bench` (about 15 minutes)."
    )


def plots(results: dict[str, dict[str, Any]], img: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    img.mkdir(parents=True, exist_ok=True)
    drawn = []
    groups = [
        ("bench-http.png", "http", ["hello_c50", "hello_c1", "hello_c50_p99"]),
        ("bench-bodies.png", "http", ["post_1mib", "stream_100mib", "file_100mib"]),
        ("bench-h2-ws.png", None, ["h2_tls", "ws_echo", "ws_idle"]),
    ]
    rows = {row["key"]: row for p in results.values() for row in p.get("rows", []) if "key" in row}
    for filename, _, keys in groups:
        chosen = [rows[k] for k in keys if k in rows]
        if not chosen:
            continue
        figure, axes = pyplot.subplots(1, len(chosen), figsize=(5 * len(chosen), 4), squeeze=False)
        for axis, row in zip(axes[0], chosen, strict=True):
            servers = [s for s in ALL_SERVERS if row["values"].get(s)]
            values = [median(row["values"][s]) for s in servers]
            colors = ["tab:red" if s == "asgid" else "tab:gray" for s in servers]
            axis.bar([LABELS.get(s, s) for s in servers], values, color=colors)
            axis.set_title(row["title"], fontsize=9)
            axis.set_ylabel(row["unit"] + ("" if row["higher_is_better"] else " (lower is better)"))
            axis.tick_params(axis="x", labelrotation=30, labelsize=8)
        figure.tight_layout()
        figure.savefig(img / filename, dpi=90)
        pyplot.close(figure)
        drawn.append(img / filename)
    if "layers" in results:
        drawn += _layer_plot(results["layers"], img, pyplot)
    return drawn


def _layer_plot(payload: dict[str, Any], img: Path, pyplot: Any) -> list[Path]:
    rows = payload.get("rows", [])
    if not rows:
        return []
    columns = min(len(rows), 4)
    lines = (len(rows) + columns - 1) // columns
    figure, axes = pyplot.subplots(
        lines, columns, figsize=(3.6 * columns, 3.6 * lines), squeeze=False
    )
    for axis in axes.flat[len(rows) :]:
        axis.set_visible(False)
    for axis, row in zip(axes.flat, rows, strict=False):
        layers = list(row["values"])
        values = [float(median(v) if isinstance(v, list) else v) for v in row["values"].values()]
        colors = ["tab:red" if name.startswith("asgid") else "tab:gray" for name in layers]
        axis.bar(layers, values, color=colors)
        axis.set_title(row["scenario"], fontsize=7)
        better = "" if row.get("higher_is_better", True) else " (lower is better)"
        axis.set_ylabel(row["unit"] + better, fontsize=8)
        axis.tick_params(axis="x", labelrotation=40, labelsize=7)
    figure.tight_layout()
    path = img / "bench-layers.png"
    figure.savefig(path, dpi=80)
    pyplot.close(figure)
    return [path]


def section(results: dict[str, dict[str, Any]], drawn: list[Path]) -> str:
    pathsend = results.get("http", {}).get("pathsend", {})
    offered = [s for s, used in pathsend.items() if used]
    parts = [header(results), "", summary_table(results), ""]
    if pathsend:
        parts.append(
            "The file row uses `http.response.pathsend` on "
            + (", ".join(offered) if offered else "no server")
            + "; the others read the file in the app and send 1 MiB body messages."
        )
        parts.append("")
    parts += [f"![{p.stem}](img/{p.name})" for p in drawn]
    return "\n".join(parts)


README = REPO / "README.md"
README_START = "<!-- server benchmarks: report.py writes between these lines -->"
README_END = "<!-- end of server benchmarks -->"


def readme_rows(results: dict[str, dict[str, Any]]) -> str:
    """The README's short table: asgid, the best Python peer (per-round ratio), granian."""
    lines = [
        "| work | asgid | best Python peer (asgid as a multiple of it) | granian (Rust) |",
        "|---|---:|---|---:|",
    ]
    for bench in ("http", "h2", "ws"):
        for row in results.get(bench, {}).get("rows", []):
            values = row["values"]
            if not values.get("asgid"):
                continue
            unit = row["unit"]
            peer = best_peer(row)
            theirs = f"{fmt(median(values[peer]))} {unit}" if peer else "–"
            ratio = ratio_cell(row).split(" [")[0].replace(f" {peer}", "") if peer else ""
            peer_cell = f"{peer}: {theirs} ({ratio})" if peer else "–"
            granian = values.get("granian")
            lines.append(
                f"| {row['title']} | {fmt(median(values['asgid']))} {unit} | {peer_cell} | "
                + (f"{fmt(median(granian))} {unit}" if granian else "–")
                + " |"
            )
    return "\n".join(lines)


def write_readme(results: dict[str, dict[str, Any]], path: Path = README) -> bool:
    """Replace the table between the README's markers; False when the markers are missing."""
    text = path.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start == -1 or end < start:
        return False
    table = readme_rows(results)
    path.write_text(text[: start + len(README_START)] + "\n" + table + "\n" + text[end:])
    return True


def main() -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--img", type=Path, default=IMG)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    results = load_results(args.results)
    if not results:
        logger.error("no results in %s: run the benchmarks first (make bench)", args.results)
        return 1
    drawn = plots(results, args.img)
    text = section(results, drawn)
    logger.info("%s", text)
    if not args.no_write:
        write_section("Servers", text)
        if not write_readme(results):
            logger.warning("README.md has no benchmark markers; its table was left alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
