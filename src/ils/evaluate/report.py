"""The combined evaluation report: report.json, PNG charts and one self-contained report.html.

Charts: the headline metric per task for every mode (parsed output solid, likelihood hatched, the
unparseable count written on each bar) and a confusion matrix per closed-set task and mode. The
HTML embeds the PNGs as base64, so the file can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ils.io import atomic_path, write_json, write_text


def write_combined(out: Path, reports: dict[str, dict], config: dict) -> dict:
    combined = {"config": config, "modes": reports, "table": score_table(reports)}
    write_json(out / "report.json", combined)
    charts = [metric_chart(out / "charts" / "metric_per_mode.png", reports)]
    charts += confusion_charts(out / "charts", reports)
    write_text(out / "report.html", render_html(combined, charts))
    return combined


def score_table(reports: dict[str, dict]) -> list[dict]:
    """One row per (task, mode): metric, parsed score, likelihood score, unparseable, n."""
    rows = []
    for mode, rep in reports.items():
        for task, r in rep["tasks"].items():
            ll = r.get("likelihood", {}).get("score")
            rows.append(
                {
                    "task": task,
                    "mode": mode,
                    "metric": r["metric"],
                    "score": r["score"],
                    "likelihood": ll,
                    "unparseable": r.get("unparseable", 0),
                    "n": r["n"],
                }
            )
    return rows


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return dest


def metric_chart(dest: Path, reports: dict[str, dict]) -> Path:
    plt, rows = _plt(), score_table(reports)
    tasks, modes = sorted({r["task"] for r in rows}), list(reports)
    bars = [
        (m, kind)
        for m in modes
        for kind in ("score", "likelihood")
        if any(r["mode"] == m and r[kind] is not None for r in rows)
    ]
    width = 0.8 / max(1, len(bars))
    fig, ax = plt.subplots(figsize=(max(6, len(tasks) * len(bars) * 0.6), 4.2))
    for j, (mode, kind) in enumerate(bars):
        for x, task in enumerate(tasks):
            r = next((r for r in rows if r["task"] == task and r["mode"] == mode), None)
            if r is None or r[kind] is None:
                continue
            pos = x - 0.4 + width * (j + 0.5)
            ax.bar(
                pos,
                r[kind],
                width,
                color=f"C{modes.index(mode)}",
                hatch="//" if kind == "likelihood" else None,
                edgecolor="white",
                label=f"{mode} ({'likelihood' if kind == 'likelihood' else 'parsed'})" if x == 0 else None,
            )
            note = f"{r[kind]:.2f}" + (
                f"\n{r['unparseable']} unp." if kind == "score" and r["unparseable"] else ""
            )
            ax.text(pos, r[kind] + 0.01, note, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(
        range(len(tasks)), [f"{t}\n({next(r['metric'] for r in rows if r['task'] == t)})" for t in tasks]
    )
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("score")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return _save(fig, dest)


def confusion_charts(folder: Path, reports: dict[str, dict]) -> list[Path]:
    out = []
    for mode, rep in reports.items():
        for task, r in rep["tasks"].items():
            if "confusion" in r and r["confusion"]["matrix"]:
                safe = f"confusion_{mode}_{task}".replace("/", "_").replace(":", "-")
                out.append(_confusion(folder / f"{safe}.png", r["confusion"], f"{task} — {mode}"))
    return out


def _confusion(dest: Path, conf: dict, title: str) -> Path:
    plt = _plt()
    labels, matrix = conf["labels"], conf["matrix"]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(labels), 1 + 0.8 * len(matrix)))
    ax.imshow(matrix, cmap="Blues")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(matrix)), labels[: len(matrix)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=9)
    return _save(fig, dest)


def render_html(combined: dict, charts: list[Path]) -> str:
    head = (
        "<tr>"
        + "".join(
            f"<th>{h}</th>" for h in ("task", "mode", "metric", "parsed", "likelihood", "unparseable", "n")
        )
        + "</tr>"
    )
    body = "".join(_html_row(r) for r in combined["table"])
    imgs = "".join(
        f'<figure><img alt="{html.escape(p.name)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{html.escape(p.name)}</figcaption></figure>'
        for p in charts
    )
    cfg = html.escape(str(combined["config"]))
    parts = "".join(_html_breakdown(task, mode, rows) for task, mode, rows in breakdowns(combined["modes"]))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>ILS evaluation</title><style>{_CSS}</style>"
        f"</head><body><h1>ILS evaluation</h1><p class='cfg'>{cfg}</p><table>{head}{body}</table>{parts}"
        f"{imgs}</body></html>\n"
    )


BREAKDOWNS = ("per_type", "per_label", "per_relation")  # what metric families give per class


def breakdowns(reports: dict[str, dict]) -> list[tuple[str, str, list[tuple]]]:
    """(task, mode, [(class, precision, recall, f1, support)]) of every task score with a breakdown."""
    out = []
    for mode, rep in reports.items():
        for task, r in rep["tasks"].items():
            per = next((r[k] for k in BREAKDOWNS if r.get(k)), None)
            if per:
                rows = [(name, v["precision"], v["recall"], v.get("f1-score", v.get("f1")),
                         int(v["support"]))  # a count (seqeval reports it as a float)
                        for name, v in sorted(per.items())]
                out.append((task, mode, rows))
    return out


def _html_breakdown(task: str, mode: str, rows: list[tuple]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("class", "precision", "recall", "F1", "support"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h2>{html.escape(task)} — {html.escape(mode)}</h2><table><tr>{head}</tr>{body}</table>"


def _cell(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def rich_breakdown(combined: dict) -> list:
    """One Rich table per task and mode: precision, recall, F1 and support of each type or label."""
    from rich.table import Table

    tables = []
    for task, mode, rows in breakdowns(combined["modes"]):
        table = Table(title=f"{task} per class — {mode}")
        for col in ("class", "precision", "recall", "F1", "support"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for row in rows:
            table.add_row(*(_cell(c) for c in row))
        tables.append(table)
    return tables


def _html_row(r: dict) -> str:
    fmt = lambda x: "–" if x is None else f"{x:.3f}"
    cells = (
        r["task"],
        r["mode"],
        r["metric"],
        fmt(r["score"]),
        fmt(r["likelihood"]),
        r["unparseable"],
        r["n"],
    )
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


_CSS = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:4px 8px;text-align:right}td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}"
    "img{max-width:100%}.cfg{color:#555;font-size:90%}"
)


def rich_table(combined: dict):
    from rich.table import Table

    table = Table(title="evaluation (same test records; likelihood = best option by log-probability)")
    for col in ("task", "mode", "metric", "parsed", "likelihood", "unparseable", "n"):
        table.add_column(col, justify="left" if col in ("task", "mode", "metric") else "right")
    for r in combined["table"]:
        table.add_row(
            r["task"],
            r["mode"],
            r["metric"],
            _fmt(r["score"]),
            _fmt(r["likelihood"]),
            str(r["unparseable"]),
            str(r["n"]),
        )
    return table


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"
