"""Heatmap of a cross-attack results JSON: rows = trained models, columns = attacks, cells = win rate.

Accepted JSON layouts (an optional top-level ``"results"`` key may wrap either):

* nested: ``{"<model>": {"<attack>": 0.9 | {"win_rate": 0.9, ...}, ...}, ...}``
* records: ``[{"model": "<model>", "attack": "<attack>", "win_rate": 0.9, ...}, ...]`` (``"algo"`` is accepted for
  ``"model"``; a ``"map"`` key, when present, is prefixed to the model label)

Example::

    python zoo/plot_heatmap.py results.json -o heatmap.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo root importable so `zoo.*` resolves
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zoo.utils import ZooArgumentParser, save_figure

#: the field plotted by default; a plain number (not a dict) in a cell is taken as this field
DEFAULT_KEY = "win_rate"


def _cell(value: Any, where: str, key: str) -> float:
    """A cell's value: a number (a win rate: refused with another ``key``, which would plot win rates under its
    name), or the ``key`` field of a dict; NaN for a missing value. A boolean (JSON ``true`` would plot as 1.00), an
    infinite number (``Infinity``, ``1e400``: drawn as a blank cell) or any other value ends in one line naming the
    cell (``where``)."""
    if isinstance(value, dict):
        if key not in value:
            raise SystemExit(f"{where} has no {key!r} field (fields: {sorted(value)})")
        value = value[key]
    elif key != DEFAULT_KEY:
        raise SystemExit(
            f"{where} is a plain number, taken as a {DEFAULT_KEY}: -k/--key {key} applies to cells that are objects "
            f"with a {key!r} field"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SystemExit(f"{where}: expected a number, got {value!r}")
    if math.isinf(value):
        raise SystemExit(f"{where}: expected a finite number (or NaN for a missing value), got {value!r}")
    return float(value)


class _RepeatedKey(ValueError):
    """A JSON object repeats a key (``json`` would keep the last value silently)."""


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise _RepeatedKey(f"an object repeats the key(s) {', '.join(map(repr, repeated))} (one value per pair)")
    return dict(pairs)


def _record_pair(record: dict[str, Any]) -> tuple[str, str]:
    """(model label, attack) of a record: ``model`` (or ``algo``), prefixed by ``map`` when present."""
    model = str(record.get("model", record.get("algo")))
    if "map" in record:
        model = f"{record['map']} {model}"
    return model, str(record.get("attack"))


def load_table(path: Path, key: str = DEFAULT_KEY) -> tuple[list[str], list[str], np.ndarray]:
    """Read a results JSON into (model labels, attack labels, values[models, attacks]; NaN where missing).

    :raises SystemExit: naming the file or the cell, for a file that cannot be read, a cell that is not a finite number,
        a table without any number (every cell missing or ``NaN``) and values too far apart for one colour scale
    """
    try:
        data = json.loads(path.read_text(), object_pairs_hook=_refuse_repeated_keys)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, _RepeatedKey) as exc:
        raise SystemExit(f"Cannot read results JSON {path}: {exc}") from None
    if isinstance(data, dict) and "results" in data:
        data = data["results"]
    cells: dict[tuple[str, str], float] = {}
    if isinstance(data, list):
        for i, record in enumerate(data):
            if not isinstance(record, dict) or "attack" not in record or not ({"model", "algo"} & set(record)):
                raise SystemExit(f"{path}: record {i} needs 'model' (or 'algo') and 'attack' keys, got {record!r}")
            model = _record_pair(record)[0]
            pair = model, str(record["attack"])
            if pair in cells:  # one value per cell: a repeated pair (another seed?) was silently replaced
                first = next(j for j, r in enumerate(data) if isinstance(r, dict) and _record_pair(r) == pair)
                raise SystemExit(
                    f"{path}: record {i} repeats model {pair[0]!r} under attack {pair[1]!r} (record {first}); "
                    "keep one value per pair (e.g. average the seeds first)"
                )
            cells[pair] = _cell(record, f"{path} record {i}", key)
    elif isinstance(data, dict):
        for model, row in data.items():
            if not isinstance(row, dict):
                raise SystemExit(f"{path}: the entry of {model!r} must map attacks to results, got {row!r}")
            for attack, value in row.items():
                cells[str(model), str(attack)] = _cell(value, f"{path} [{model}][{attack}]", key)
    else:
        raise SystemExit(f"{path}: expected a JSON object or list, got {type(data).__name__}")
    if not cells:
        raise SystemExit(f"{path} holds no results")
    models = list(dict.fromkeys(m for m, _ in cells))
    attacks = list(dict.fromkeys(a for _, a in cells))
    table = np.full((len(models), len(attacks)), np.nan)
    for (model, attack), value in cells.items():
        table[models.index(model), attacks.index(attack)] = value
    if np.isnan(table).all():
        raise SystemExit(f"{path}: every {key} value is NaN: nothing to plot")
    low, high = float(np.nanmin(table)), float(np.nanmax(table))
    if not math.isfinite(high - low):  # e.g. -1e308 and 1e308: matplotlib's colour scale fails on the range
        raise SystemExit(f"{path}: the {key} values range from {low:g} to {high:g}, too far apart for one colour scale")
    return models, attacks, table


def plot_heatmap(
    models: list[str], attacks: list[str], table: np.ndarray, output: Path, title: str = "", label: str = "win_rate"
) -> Path:
    """Draw the table as an annotated heatmap into ``output`` (its suffix picks the image type); the colour scale is
    0..1 when every value lies in it (rates), else the values' own range (e.g. returns).

    :param label: name of the plotted field, for the colour bar
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(attacks) + 3, 0.5 * len(models) + 1.8))
    rates = bool(np.nanmin(table) >= 0.0 and np.nanmax(table) <= 1.0)
    limits = {"vmin": 0.0, "vmax": 1.0} if rates else {"vmin": None, "vmax": None}
    image = ax.imshow(np.ma.masked_invalid(table), cmap="RdYlGn", aspect="auto", **limits)
    ax.set_xticks(range(len(attacks)), attacks)
    ax.set_yticks(range(len(models)), models)
    ax.set_xlabel("attack")
    ax.set_ylabel("trained model")
    for (row, col), value in np.ndenumerate(table):
        ax.text(col, row, "-" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=9)
    fig.colorbar(image, ax=ax, label=label)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, output)


def main(argv: list[str] | None = None) -> Path:
    """Parse ``argv`` and write the heatmap; returns its path."""
    parser = ZooArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="cross-attack results JSON")
    parser.add_argument("-k", "--key", default=DEFAULT_KEY, help="field plotted when cells are dicts")
    parser.add_argument(
        "-o", "--output", default="", help="image file, e.g. .png, .pdf, .svg (default: the JSON's name with .png)"
    )
    parser.add_argument("--title", default="", help="figure title")
    args = parser.parse_args(argv)
    path = Path(args.results)
    output = Path(args.output) if args.output else path.with_suffix(".png")
    if output.resolve() == path.resolve():
        default = "" if args.output else " (the default: the results' name with .png)"
        parser.error(f"the output {output}{default} is the results file itself: pass another -o/--output")
    models, attacks, table = load_table(path, args.key)
    output = plot_heatmap(models, attacks, table, output, args.title, args.key)
    print(f"Saved {output}")
    return output


if __name__ == "__main__":
    main()
