"""Finding a source's files: a file, a folder or a glob, as a ``path:`` setting names them.

Reading them is ``extract.readers``' job (``open_binary`` is re-exported here for the CSV template).
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from extract.readers.archives import is_archive
from extract.readers.streams import open_binary  # noqa: F401  (extract/csv_template.py opens through it)

GLOB_CHARS = set("*?[")


class SourcePathError(ValueError):
    """A configured path that names no usable file."""


def resolve_files(spec: str | list[str], base_dir: Path, suffixes: Iterable[str],
                  archives: bool = False) -> list[Path]:
    """The files a ``path:`` setting names, sorted, with duplicates removed.

    A folder yields every file below it whose name ends with one of ``suffixes``
    (``.gz`` variants included) and, for a platform that reads ``archives``, every zip or tar
    whatever its name (the bytes say it: ``takeout-20240301T000000Z-001.zip``); a glob yields what
    it matches; a file yields itself.
    """
    specs = spec if isinstance(spec, list) else [spec]
    wanted = tuple(s.lower() for s in suffixes) + tuple(s.lower() + ".gz" for s in suffixes)
    found: list[Path] = []
    for one in specs:
        if not isinstance(one, str) or not one.strip():
            raise SourcePathError("must be a path, a folder or a glob (a string)")
        expanded = Path(one).expanduser()
        path = expanded if expanded.is_absolute() else base_dir / expanded
        if GLOB_CHARS & set(one):
            matches = [Path(p) for p in sorted(glob.glob(str(path), recursive=True))]
            matches = [p for p in matches if p.is_file()]
            if not matches:
                raise SourcePathError(f"no file matches '{one}' (looked in {path.parent})")
            found.extend(matches)
        elif path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and (
                p.name.lower().endswith(wanted) or (archives and is_archive(p))))
            if not matches:
                packed = " (nor a zip or tar archive)" if archives else ""
                raise SourcePathError(f"folder '{one}' holds no {', '.join(suffixes)} file{packed}")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            raise SourcePathError(f"'{one}' does not exist (resolved to {path})")
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


# Compressions and archives no reader here opens: "tickets.json.zip" in a Zendesk folder is an
# export this import cannot read, so it is a reject (unexpected_file), never passed over in silence.
UNREAD_PACKINGS = (".zip", ".bz2", ".xz", ".zst", ".7z", ".rar", ".tar", ".tar.gz", ".tgz", ".lz4", ".z")


def unread_exports(spec: str | list[str], base_dir: Path, suffixes: Iterable[str],
                   archives: bool = False) -> list[Path]:
    """Files below the folders ``spec`` names that look like an export in a packing that is not
    read (``<name>.json.zip``, ``<name>.mbox.bz2``, ``export.tar``, ..., a zip or tar only for a
    platform that does not read ``archives``): each is to be a reject."""
    read = tuple(s.lower() for s in suffixes)
    found = []
    for one in spec if isinstance(spec, list) else [spec]:
        path = Path(one).expanduser() if isinstance(one, str) else None
        if path is None or GLOB_CHARS & set(one):
            continue
        path = path if path.is_absolute() else base_dir / path
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                name = file.name.lower()
                if (file.is_file() and name.endswith(UNREAD_PACKINGS) and not name.endswith(read)
                        and not (archives and is_archive(file))):
                    found.append(file)
    return found


def display_path(path: Path, base_dir: Path) -> str:
    """How a file is named in lineage: relative to the config file when it sits below it."""
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
