"""What a platform is: one declared value per platform, read by everything that needs to know it.

Each platform module ends with ``PLATFORM = Platform(...)``: the key under ``sources:``, the name
people call it by, whether it reads export files, an API, or either (``reads="either"``: export files
when one of its path settings is given, else its API; Zendesk), its settings (``extract.options``:
each key declared once with its type, default, secrecy and documentation), its raw tables (name ->
pyarrow schema, its free-text columns marked with ``extract.raw.free_text``: what becomes a title or a
body, redacted as it is landed) and which of them hold its records (one per conversation item), the file suffixes
its exports have, and the function that does the work::

    extract(ctx: SourceContext, out: PlatformOutput) -> None

which reads ``ctx.files`` (export files, resolved from the ``paths`` settings) or the API the
settings name, writes rows with ``out.table(name).write(row)`` and bad records with
``out.reject(...)``; an API platform also declares its preflight, ``check(ctx) -> list[Finding]``
(``extract.api.check``), run by ``gladly-import check``. The config check, the runner, the
up-front secret check, the preflight, the summary and the README's table of config keys all read
these declarations (``extract.platforms.PLATFORMS``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from extract.options import Settings

if TYPE_CHECKING:
    import pyarrow as pa

    from extract.api.check import Finding
    from extract.context import SourceContext
    from extract.raw import PlatformOutput
    from extract.redact import Redactor

Tables = Mapping[str, "pa.Schema"]


@dataclass(frozen=True)
class Platform:
    name: str                                  # its key under sources: in the config
    service: str                               # what people call it: "Zendesk"
    reads: Literal["files", "api", "either"]   # export files, an API, or either (files when a path is given)
    settings: Settings
    tables: Tables | Callable[[], Tables]      # a callable: built when first needed (Gmail's workers never do)
    record_tables: tuple[str, ...]
    extract: Callable[[SourceContext, PlatformOutput], None]
    file_suffixes: tuple[str, ...] = ()        # the suffixes of its export files (and of them gzipped)
    reads_archives: bool = False               # zip and tar read where they lie (extract.readers.archives)
    # an API platform's preflight (gladly-import check): a handful of read-only requests, what they found
    check: Callable[[SourceContext], list[Finding]] | None = None

    @property
    def schemas(self) -> Tables:
        return self.tables() if callable(self.tables) else self.tables

    def reads_files_with(self, options: Mapping[str, Any]) -> bool:
        """Whether a source with these settings reads export files (else it reads the API)."""
        if self.reads == "either":
            return any(options.get(key) for key in self.settings.path_keys)
        return self.reads == "files"

    @property
    def can_read_files(self) -> bool:
        return self.reads in ("files", "either")

    @property
    def can_read_api(self) -> bool:
        return self.reads in ("api", "either")

    def output(self, raw_dir: Path, redactor: Redactor | None = None) -> PlatformOutput:
        """A writer of this platform's raw tables under ``raw_dir``, redacting with ``redactor``."""
        from extract.raw import PlatformOutput
        from extract.redact import NO_REDACTION

        return PlatformOutput(raw_dir, self.name, self.schemas, self.record_tables, redactor or NO_REDACTION)

    def options(self, block: Mapping[str, Any] | None) -> dict[str, Any]:
        """Its settings' values (defaults filled in) from a checked ``sources.<name>`` block."""
        return self.settings.resolve(block)
