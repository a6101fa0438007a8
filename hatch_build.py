"""Build hook: the wheel ships the dbt project and the samples inside the package.

They go to ``gladly_import/project/`` (``gladly_import/paths.py`` finds them there), so an
installed ``gladly-import`` runs from any folder. Only the real wheel gets them: an editable
install (``make``) puts this checkout on the path and reads them in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "samples", "tests/dbt")
BUNDLE = "gladly_import/project"


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        for name in PROJECT_FILES:
            if (Path(self.root) / name).exists():  # tests/dbt: only once the project has some
                build_data["force_include"][name] = f"{BUNDLE}/{name}"
