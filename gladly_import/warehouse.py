"""The raw tables every engine registers in schema `raw`, for dbt and for analysts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from extract.platforms import PLATFORMS


def raw_tables(raw_location: str) -> dict[str, tuple[str, bool]]:
    """Table name -> (its Parquet path under the raw location, is it a glob of several files).

    ``raw_location`` is a folder path or a URI (``file:///...``, ``s3a://bucket/prefix``).
    """
    base = raw_location.rstrip("/")
    tables = {f"{platform}_{table}": (f"{base}/{platform}/{table}.parquet", False)
              for platform, declared in PLATFORMS.items() for table in declared.schemas}
    # one rejects file per platform, all with the same schema
    tables["extract_rejects"] = (f"{base}/extract_rejects/*.parquet", True)
    # fields the raw writer cut to its cap, with their real length (extract/raw.py)
    tables["extract_truncations"] = (f"{base}/extract_truncations/*.parquet", True)
    # what redaction removed as the records were landed, per table and kind (extract/raw.py)
    tables["extract_redactions"] = (f"{base}/extract_redactions/*.parquet", True)
    tables["extract_manifest"] = (f"{base}/extract_manifest.parquet", False)
    return tables


def raw_filesystem(location: str) -> tuple[Any, str]:
    """(pyarrow's file system of the raw location, the location's path in it): a folder, file://,
    s3a:// (pyarrow's s3://, credentials from the usual AWS variables), hdfs:// (libhdfs), abfss://."""
    from pyarrow import fs

    if "://" not in location:
        return fs.LocalFileSystem(), location.rstrip("/")
    uri = "s3://" + location[len("s3a://"):] if location.startswith("s3a://") else location
    filesystem, path = fs.FileSystem.from_uri(uri)
    return filesystem, path.rstrip("/")


def copy_raw(raw_dir: Path, location: str) -> None:
    """The extracted Parquet, copied to the raw location the engine's workers read (what was there goes)."""
    from pyarrow import fs

    target, base = raw_filesystem(location)
    target.create_dir(base, recursive=True)
    target.delete_dir_contents(base, missing_dir_ok=True)
    for path in sorted(p for p in raw_dir.rglob("*.parquet") if p.is_file()):
        relative = path.relative_to(raw_dir).as_posix()
        target.create_dir(f"{base}/{relative}".rsplit("/", 1)[0], recursive=True)
        fs.copy_files(path.resolve().as_posix(), f"{base}/{relative}", source_filesystem=fs.LocalFileSystem(),
                      destination_filesystem=target)


def write_raw_table(location: str, name: str, schema: Any, batches: Iterable[Any]) -> str:
    """``<location>/<name>.parquet`` written batch by batch (memory flat), wherever the location is;
    returns its path as the engine reads it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target, base = raw_filesystem(location)
    target.create_dir(base, recursive=True)
    with target.open_output_stream(f"{base}/{name}.parquet") as stream, \
            pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
    # Arrow's allocator keeps what the batches freed (15 MB after the email rule's table at 1M
    # items), held by the runner through dbt build, when the import's memory peaks: given back.
    pa.default_memory_pool().release_unused()
    return f"{location.rstrip('/')}/{name}.parquet"
