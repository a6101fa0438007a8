"""The raw tables every engine registers in schema `raw`, for dbt and for analysts."""

from __future__ import annotations

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
