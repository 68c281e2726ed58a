"""Build step: the wheel ships the sample data and its loader, not the maintainers' scripts.

setuptools copies every module of a package; this ``build_py`` leaves out ``build.py`` (which derives the
sample data from ../shared/data) and this file, which only the build itself needs.
"""

from __future__ import annotations

from setuptools.command.build_py import build_py

MAINTAINER_MODULES = frozenset({"build", "_wheel"})


class BuildPy(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        if package != "evalbudget.sample_runs":
            return modules
        return [m for m in modules if m[1] not in MAINTAINER_MODULES]
