"""A plotext chart drawn afresh for every render.

plotext's log scale transforms a figure's data in place when it builds, so building the same figure twice
(which a resize or a theme change does) fails with a math domain error. This chart clears its figure and
asks its owner to plot it again before each build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual_plotext import PlotextPlot


class Chart(PlotextPlot):
    def __init__(self, figure: Callable[[Chart], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.figure = figure
        """Plots on ``chart.plt`` (already cleared); called before every render."""

    def render(self) -> Any:
        self.plt.clear_data()
        self.plt.clear_figure()
        self.figure(self)
        return super().render()
