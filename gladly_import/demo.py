"""``gladly-import init [FOLDER]``: a folder to try the tool in, outside the installed package.

Installed with pip, the bundled samples sit inside site-packages, and their config writes its
``output/`` and ``work/`` beside them: inside the package. ``init`` copies the samples into a folder
of the user's (default ``./gladly-import-demo``) with a commented starter config whose output and
work folders are inside that folder, and says the next command. The starter config is the bundled
sample config (``samples/config.yml``), its folders moved and a header added: one text to keep up.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from gladly_import.paths import SAMPLE_CONFIG, SAMPLES_DIR

DEMO_FOLDER = "gladly-import-demo"
CONFIG_NAME = "config.yml"
HEADER = """\
# A starter config made by `gladly-import init`: it imports the sample exports copied beside it
# (one folder per platform), into output/ (the files for Gladly and the report) and work/ (the
# staged history, the logs). To import your own exports: put them in a folder, point each
# source's path at them and remove the sources you do not use; the README's "Every config key"
# table says what each key does. Run it with:  gladly-import --config {config}
#
"""
# The sample config's folders are beside the samples folder (../output); the demo's are inside it.
FOLDERS = {"output_dir": "output", "work_dir": "work"}


class DemoError(Exception):
    """Why the demo folder cannot be made, in one line."""


def starter_config(config_path: Path) -> str:
    """The bundled sample config with the demo's folders and a header saying what to do next."""
    text = SAMPLE_CONFIG.read_text(encoding="utf-8")
    for key, folder in FOLDERS.items():
        text, found = re.subn(rf"(?m)^({key}:[ \t]*)\S+", lambda m, f=folder: m.group(1) + f, text, count=1)
        if not found:  # the sample config always names both folders: the demo must not write elsewhere
            raise DemoError(f"init: the bundled sample config has no {key}: key")
    return HEADER.format(config=config_path) + text


def make_demo(folder: Path) -> Path:
    """Copy the samples and the starter config into ``folder``; returns the config's path."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise DemoError(f"init: {folder} already exists and is not an empty folder: give another folder "
                        f"(gladly-import init my-demo)")
    config = folder / CONFIG_NAME
    text = starter_config(config)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for source in sorted(SAMPLES_DIR.iterdir()):
            if source.is_dir() and source.name not in FOLDERS.values():
                shutil.copytree(source, folder / source.name)
        config.write_text(text, encoding="utf-8")
    except OSError as error:
        raise DemoError(f"init: cannot write {folder}: {error.strerror or error}") from None
    return config
