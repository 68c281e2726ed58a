"""A plan's estimated leaderboard in a DataTable: score bars with their 90% interval, ranks and tiers; shared
by Launch mode (live, while rollouts arrive) and the results view Explore opens."""

from __future__ import annotations

from textual.widgets import DataTable

from evalbudget.engine.results import ModelResult, Results, header_lines
from evalbudget.tui.table import replace_rows

BAR_WIDTH = 20
COLUMNS = ("rank", "model", "recorded", "score", "90% interval", "bar", "rank range", "tier")


def bar(m: ModelResult, width: int = BAR_WIDTH) -> str:
    """The score on a [0, 1] line: its interval as a light band, the estimate as a block."""
    if m.score is None:
        return ""
    cells = [" "] * width
    if m.score_low is not None and m.score_high is not None:
        for k in range(round(m.score_low * (width - 1)), round(m.score_high * (width - 1)) + 1):
            cells[k] = "─"
    cells[round(m.score * (width - 1))] = "█"
    return "".join(cells)


def rows(results: Results, recorded: dict[str, int] | None = None) -> list[tuple[str, ...]]:
    """One row per candidate, best first; ``recorded`` (by model name) overrides the results' counts with
    the live ones."""
    out: list[tuple[str, ...]] = []
    for m in results.models:
        name = str(m.model)
        count = (recorded or {}).get(name, m.rollouts)
        if not m.evaluated or m.score is None:
            out.append(("", name, str(count), "not evaluated", "", "", "", ""))
            continue
        interval = "" if m.score_low is None else f"[{m.score_low:.3f}, {m.score_high:.3f}]"
        ranks = "" if m.rank_low is None else f"{m.rank_low}-{m.rank_high}"
        out.append(
            (
                str(m.rank),
                name,
                str(count),
                f"{m.score:.3f}",
                interval,
                bar(m),
                ranks,
                "" if m.tier is None else str(m.tier),
            )
        )
    return out


def show(table: DataTable[str], results: Results, recorded: dict[str, int] | None = None) -> None:
    """Fill ``table`` (made with COLUMNS) with the leaderboard, keyed by model name."""
    shown = rows(results, recorded)
    replace_rows(table, shown, keys=[row[1] for row in shown])


def summary(results: Results) -> str:
    """The results' header lines, for a Static above the table."""
    return "\n".join(header_lines(results))
