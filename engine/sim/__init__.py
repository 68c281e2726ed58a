"""Simulation of evaluation strategies on past data: what each would have cost and how faithfully it would
have ranked the models."""

from __future__ import annotations

from evalbudget.engine.sim.budget import Budget, parse_budget
from evalbudget.engine.sim.data import BenchmarkData, load_benchmark
from evalbudget.engine.sim.simulate import SimulationReport, applicable_strategies, format_report, simulate

__all__ = [
    "BenchmarkData",
    "Budget",
    "SimulationReport",
    "applicable_strategies",
    "format_report",
    "load_benchmark",
    "parse_budget",
    "simulate",
]
