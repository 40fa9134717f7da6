"""Table I of the paper (Guo et al., "Robust QMIX": cross-attacks in the testing phase), as data.

``TABLE_I[(map, method, attack)] = (win_rate, return_mean, return_std)`` over the paper's 32 test episodes, with
the zoo's method names (``qmix``, ``fgsm``, ``regularized``, ``atla``, ``paad``) and attack names (``none``,
``fgsm``, ``atla``, ``paad``); ε 0.2 (0.05 on 2s3z), all agents attacked at every step.
:func:`comparison_markdown` puts a benchmark's win rates beside these.
"""

from __future__ import annotations

from typing import Any

from zoo.utils import paper_epsilon

#: the paper's maps
PAPER_MAPS = ("2m_vs_1z", "3m", "3s_vs_3z", "2s3z")
#: methods of Table I (zoo algorithm names), in its row order
PAPER_METHODS = ("qmix", "fgsm", "regularized", "atla", "paad")
#: attacks of Table I, in its column order
PAPER_ATTACKS = ("none", "fgsm", "atla", "paad")

# One line per (map, method): (win, return mean, return std) under no attack, FGSM, ATLA, PA-AD.
_ROWS: dict[tuple[str, str], tuple[tuple[float, float, float], ...]] = {
    ("2m_vs_1z", "qmix"): ((1.00, 20.0, 0.0), (0.00, 2.3656, 0.4219), (0.00, 3.7334, 0.2981), (0.00, 2.3602, 0.3102)),
    ("2m_vs_1z", "fgsm"): ((0.87, 18.2787, 2.9210), (1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (0.85, 18.1783, 2.8507)),
    ("2m_vs_1z", "regularized"): (
        (1.00, 20.0, 0.0),
        (0.94, 19.155, 2.1991),
        (0.98, 19.7966, 1.1141),
        (0.77, 16.9552, 3.3790),
    ),
    ("2m_vs_1z", "atla"): ((0.53, 13.8056, 1.6720), (0.00, 3.0287, 0.6546), (1.00, 20.0, 0.0), (0.00, 2.8701, 0.1548)),
    ("2m_vs_1z", "paad"): ((1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (0.98, 19.8011, 1.0896)),
    ("3m", "qmix"): ((0.98, 19.8065, 1.0601), (0.00, 4.7963, 0.3710), (0.81, 17.5908, 3.0427), (0.00, 2.2996, 0.3254)),
    ("3m", "fgsm"): (
        (0.92, 18.9951, 2.2924),
        (0.97, 19.6129, 1.4746),
        (0.97, 19.5970, 1.5347),
        (0.77, 17.1357, 3.1627),
    ),
    ("3m", "regularized"): (
        (0.34, 11.5961, 3.0177),
        (0.97, 19.6235, 1.4336),
        (0.94, 19.2311, 1.9982),
        (0.82, 17.7826, 2.9991),
    ),
    ("3m", "atla"): ((0.90, 18.6328, 2.8014), (0.00, 5.3283, 0.5470), (0.02, 5.6368, 1.3908), (0.02, 5.5272, 1.3579)),
    ("3m", "paad"): ((1.00, 20.0, 0.0), (0.97, 19.6076, 1.4955), (0.90, 18.8228, 2.4047), (0.97, 19.6129, 1.4746)),
    ("3s_vs_3z", "qmix"): ((1.00, 20.0, 0.0), (0.00, 7.8688, 1.2552), (0.74, 18.4149, 1.5862), (0.00, 5.1305, 0.6753)),
    ("3s_vs_3z", "fgsm"): ((1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (0.84, 18.8243, 1.9965)),
    ("3s_vs_3z", "regularized"): ((1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (0.82, 18.5683, 2.0629)),
    ("3s_vs_3z", "atla"): ((1.00, 20.0, 0.0), (0.00, 8.1845, 0.7114), (1.00, 20.0, 0.0), (0.00, 8.2365, 1.0631)),
    ("3s_vs_3z", "paad"): ((1.00, 20.0, 0.0), (0.98, 19.9029, 0.5543), (1.00, 20.0, 0.0), (0.90, 19.3391, 1.3766)),
    ("2s3z", "qmix"): ((1.00, 20.0, 0.0), (0.05, 12.2415, 1.3581), (0.90, 19.3830, 1.3067), (0.02, 13.7166, 1.1353)),
    ("2s3z", "fgsm"): ((1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (1.00, 20.0, 0.0), (0.94, 19.6231, 1.0591)),
    ("2s3z", "regularized"): (
        (0.98, 19.9031, 0.5341),
        (0.95, 19.7577, 0.8400),
        (0.98, 19.9456, 0.3851),
        (0.95, 19.6771, 0.9985),
    ),
    ("2s3z", "atla"): ((1.00, 20.0, 0.0), (0.03, 12.5423, 1.2042), (1.00, 20.0, 0.0), (0.13, 13.2765, 1.8647)),
    ("2s3z", "paad"): ((1.00, 20.0, 0.0), (0.95, 19.7056, 0.9563), (1.00, 20.0, 0.0), (0.97, 19.9701, 0.4767)),
}

#: (map, method, attack) -> (win rate, return mean, return std) of the paper's Table I
TABLE_I: dict[tuple[str, str, str], tuple[float, float, float]] = {
    (map_name, method, attack): cell
    for (map_name, method), cells in _ROWS.items()
    for attack, cell in zip(PAPER_ATTACKS, cells)
}


def comparison_markdown(rows: list[dict[str, Any]], labels: dict[str, str], measured: str) -> str | None:
    """Win rates of a benchmark beside the paper's, ``ours (paper)``, for the cells both have; None if none.

    :param rows: aggregated benchmark rows (``map``, ``method``, ``attack``, ``epsilon``, ``n_attacked``,
        ``win_rate``) at the paper's ε with all agents attacked (other rows are ignored).
    :param labels: display names of the methods and attacks.
    :param measured: what our cells measured (budgets, test episodes, seeds, clipping), printed above the table.
    """
    ours = {
        (row["map"], row["method"], row["attack"]): row["win_rate"]
        for row in rows
        if row["n_attacked"] is None
        and (row["map"], row["method"], row["attack"]) in TABLE_I
        and (row["attack"] == "none" or row["epsilon"] == paper_epsilon(row["map"]))
    }
    if not ours:
        return None
    lines = [
        "# Win rates against the paper's Table I",
        "",
        measured,
        "",
        "Cells: our win rate (the paper's); ε 0.2 (0.05 on 2s3z), all agents attacked. "
        "Δ = mean absolute difference of the cells shown.",
        "",
        "| Map | Training method | " + " | ".join(labels[a] for a in PAPER_ATTACKS) + " |",
        "|" + "---|" * (len(PAPER_ATTACKS) + 2),
    ]
    differences = []
    for map_name in PAPER_MAPS:
        for method in PAPER_METHODS:
            cells = []
            for attack in PAPER_ATTACKS:
                key = (map_name, method, attack)
                if key in ours:
                    differences.append(abs(ours[key] - TABLE_I[key][0]))
                    cells.append(f"{ours[key]:.2f} ({TABLE_I[key][0]:.2f})")
                else:
                    cells.append("–")
            if any(cell != "–" for cell in cells):
                lines.append(f"| {map_name} | {labels[method]} | " + " | ".join(cells) + " |")
    lines += ["", f"Δ = {sum(differences) / len(differences):.2f} over {len(differences)} cells."]
    return "\n".join(lines) + "\n"
