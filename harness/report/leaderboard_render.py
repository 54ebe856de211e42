"""Leaderboard outputs: leaderboard.json (every number), leaderboard.md and the static HTML pages.

Templates live in `leaderboards/templates/` beside the specs, so a project can restyle its board
without touching Python. HTML is rendered with autoescape on (model names, prompts and responses
are untrusted text) and is self-contained: CSS and JS are inlined, charts are inline SVG.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import quote

import jinja2

from harness.assets import asset_dir
from harness.report.leaderboard_cells import CI_METHODS, Cell
from harness.report.leaderboard_pages import PageSamples
from harness.report.runs import RunInfo
from harness.store.run_dir import SAMPLES

if TYPE_CHECKING:  # leaderboard.py imports this module lazily; at runtime the types come in as arguments
    from harness.report.leaderboard import HeatmapResult, Leaderboard

BAR_LABEL_WIDTH = 280
BAR_PLOT_WIDTH = 360
BAR_ROW_HEIGHT = 22
BAR_TOP = 8


@functools.cache
def _environment(autoescape: bool) -> jinja2.Environment:
    """One environment per escaping mode and process: it keeps compiled templates across the run pages."""
    loader = jinja2.FileSystemLoader(str(asset_dir("leaderboards") / "templates"))
    environment = jinja2.Environment(loader=loader, autoescape=autoescape, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["md"] = _markdown_text
    return environment


def _markdown_text(value: Any) -> str:
    """Text safe inside a Markdown table cell: no pipes, no line breaks, no raw HTML."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return " ".join(text.split())


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def cell_view(cell: Cell, slugs: list[str], anchor: str = "") -> dict[str, Any]:
    """What a template shows for a cell: text in %, ± half the CI width, a tooltip with n and method, a link."""
    half = (cell.ci_high - cell.ci_low) / 2 if cell.ci_low is not None and cell.ci_high is not None else None
    details = [f"n={cell.n}"] if cell.value is not None else []
    if half is not None:
        details.append(f"95% CI [{_percent(cell.ci_low)}, {_percent(cell.ci_high)}] ({cell.ci_method})")
    if cell.reason:
        details.append(cell.reason)
    return {
        "text": _percent(cell.value), "ci": f"± {100 * half:.2f}" if half is not None else "",
        "mark": "†" if cell.status == "incomplete" else "", "status": cell.status.replace("/", ""),
        "sort_value": "" if cell.value is None else repr(cell.value), "value": cell.value,
        "low": cell.ci_low, "high": cell.ci_high, "tooltip": "; ".join(details),
        "href": f"runs/{slugs[cell.run]}.html{anchor}" if cell.run is not None else None,
    }


def _cell_json(cell: Cell, slugs: list[str]) -> dict[str, Any]:
    data = cell.as_dict()
    data["run"] = slugs[cell.run] if cell.run is not None else None
    return data


def leaderboard_json(board: Leaderboard) -> dict[str, Any]:
    """Every number with its n, interval, method and status, and every run used or excluded."""
    spec, selection = board.spec, board.selection
    return {
        "name": spec.name, "title": spec.title, "description": spec.description, "spec": str(spec.path),
        "ci_methods": CI_METHODS, "sort": {"column": spec.sort_column, "order": spec.sort_order},
        "eligibility": {"runs": spec.runs, "task_versions": {task: vars(identity) for task, identity in selection.identities.items()},
                        "num_fewshot": dict(spec.num_fewshot)},
        "columns": [{"id": column.id, "label": column.label, "task": column.task, "metric": column.metric,
                     "aggregate": column.aggregate, "subsets": list(column.subsets) or "all",
                     "group": column.group, "headline": column.headline, "mean_of": list(column.mean_of),
                     "covered_subsets": board.column_subsets.get(column.id, [])} for column in spec.columns],
        "rows": [{"rank": result.rank, "key": result.row.key, "model": result.row.model,
                  "runs": {task: board.slugs[index] for task, index in result.row.runs.items()},
                  "cells": {key: _cell_json(cell, board.slugs) for key, cell in result.cells.items()}}
                 for result in board.rows],
        "heatmaps": [{"title": heatmap.spec.title, "column": heatmap.spec.column, "x": heatmap.spec.x,
                      "panels": heatmap.spec.panels, "panel_values": heatmap.panels, "x_values": heatmap.xs,
                      "cells": [{"row": row, "panel": panel, "x": x, "subset": cell.subsets[0] if cell.subsets else None,
                                 **_cell_json(cell, board.slugs)}
                                for (row, panel, x), cell in heatmap.cells.items()]} for heatmap in board.heatmaps],
        "runs": [{"slug": slug, "path": str(run.path), "task": run.task, "model": run.model,
                  "task_version": run.task_version, "task_hash": run.task_hash, "finished_at": run.finished_at,
                  "limit": run.manifest.get("settings", {}).get("limit")} for slug, run in zip(board.slugs, selection.runs)],
        "excluded": [vars(item) for item in selection.excluded],
        "warnings": board.warnings,
    }


def _bar_x(value: float) -> float:
    return BAR_LABEL_WIDTH + BAR_PLOT_WIDTH * min(1.0, max(0.0, value))


def _bar_chart(board: Leaderboard, column_id: str) -> dict[str, Any]:
    """Geometry of one horizontal bar chart with CI whiskers; values and intervals clipped to 0-100% for drawing."""
    bars = []
    for position, result in enumerate(board.rows):
        view = cell_view(result.cells[column_id], board.slugs)
        y = BAR_TOP + position * BAR_ROW_HEIGHT
        bar = {"y": y, "middle": y + BAR_ROW_HEIGHT / 2, "label": result.row.key, "view": view}
        if view["value"] is not None:
            bar["end"] = _bar_x(view["value"])
            if view["low"] is not None:
                bar["low"], bar["high"] = _bar_x(view["low"]), _bar_x(view["high"])
        bars.append(bar)
    height = BAR_TOP + len(bars) * BAR_ROW_HEIGHT + 24
    ticks = [{"x": BAR_LABEL_WIDTH + BAR_PLOT_WIDTH * step / 4, "label": f"{25 * step}"} for step in range(5)]
    return {"column": board.spec.column(column_id), "bars": bars, "height": height, "ticks": ticks,
            "width": BAR_LABEL_WIDTH + BAR_PLOT_WIDTH + 60, "left": BAR_LABEL_WIDTH, "plot": BAR_PLOT_WIDTH}


def _heat_color(value: float | None) -> str:
    """Red (0%) through yellow to green (100%), light enough for dark text."""
    if value is None:
        return "#e5e5e5"
    return f"hsl({120 * min(1.0, max(0.0, value)):.0f}, 65%, 78%)"


def _heatmap_view(heatmap: HeatmapResult, board: Leaderboard) -> dict[str, Any]:
    panels = []
    for panel in heatmap.panels:
        rows = []
        for result in board.rows:
            cells = []
            for x in heatmap.xs:
                cell = heatmap.cells.get((result.row.key, panel, x))
                subset = cell.subsets[0] if cell is not None and cell.subsets else ""
                view = cell_view(cell, board.slugs, f"#subset={quote(subset)}") if cell is not None else None
                cells.append({"view": view, "color": _heat_color(cell.value if cell else None)})
            if any(cell["view"] is not None for cell in cells):
                rows.append({"label": result.row.key, "cells": cells})
        panels.append({"name": panel, "rows": rows})
    return {"title": heatmap.spec.title, "x": heatmap.spec.x, "panel_field": heatmap.spec.panels,
            "xs": heatmap.xs, "panels": panels}


def _page_context(board: Leaderboard) -> dict[str, Any]:
    spec = board.spec
    rows = [{"rank": result.rank, "key": result.row.key,
             "cells": [cell_view(result.cells[column.id], board.slugs) for column in spec.columns]}
            for result in board.rows]
    data = leaderboard_json(board)
    return {"spec": spec, "rows": rows, "data": data, "ci_methods": CI_METHODS,
            "charts": [_bar_chart(board, column.id) for column in spec.columns],
            "heatmaps": [_heatmap_view(heatmap, board) for heatmap in board.heatmaps if heatmap.cells]}


def write_outputs(board: Leaderboard, out_dir: Path) -> list[Path]:
    """leaderboard.json, leaderboard.md and index.html in `out_dir` (run pages are already there)."""
    context = _page_context(board)
    outputs = {
        out_dir / "leaderboard.json": json.dumps(context["data"]) + "\n",  # indent would switch to the slow pure-Python encoder
        out_dir / "leaderboard.md": _environment(autoescape=False).get_template("leaderboard.md.j2").render(context),
        out_dir / "index.html": _environment(autoescape=True).get_template("index.html.j2").render(context),
    }
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
    return list(outputs)


def render_run_page(path: Path, board_title: str, run: RunInfo, label: str, samples: PageSamples) -> None:
    """One run's samples page; the note says how many are shown and where the rest are."""
    context: Mapping[str, Any] = {
        "board_title": board_title, "run": run, "label": label, "samples": samples.columns, "shown": samples.shown,
        "total": samples.total,
        "failures": samples.failures, "samples_path": str((run.path / SAMPLES).resolve()),
        "subsets": samples.subsets, "limit": run.manifest.get("settings", {}).get("limit"),
    }
    path.write_text(_environment(autoescape=True).get_template("run.html.j2").render(context), encoding="utf-8")
