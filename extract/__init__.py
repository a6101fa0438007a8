"""Extractors: one module per platform, each turning an export or an API into raw Parquet.

Each platform module declares itself once, ``PLATFORM = extract.platform.Platform(...)``: its
name, whether it reads files or an API, its settings, its raw tables, its file suffixes and its
``extract(ctx, out)`` function (see ``extract/platform.py``). ``extract.platforms.PLATFORMS``
lists them. Below the platforms: finding a source's files (``files``), the byte readers
(``readers/``: streams, bounded lines, JSON, hardened XML, archives), the raw Parquet
writer (``raw``), the HTTP client (``http_client``), the API reading layer (``api/``) and the
local API simulators (``simulators/``). Nothing here imports ``gladly_import``.
"""
