"""Extractors: one module per platform, each turning an export or an API into raw Parquet.

Every platform module exposes:

- ``NAME``: the key under ``sources:`` in the config file,
- ``CONFIG_KEYS``: ``{key: required?}`` for its block in the config, and ``CONFIG_TYPES``:
  ``{key: extract.options.Option}``, the type of each (checked with every other block before anything runs),
- ``PATH_KEYS``: the keys whose values are file paths (resolved relative to the config file),
- ``TABLES``: ``{table name: pyarrow schema}`` of the raw tables it writes,
- ``RECORD_TABLES``: the tables whose rows are the platform's records (one per conversation item),
- ``extract(settings, out)``: does the work, writing rows with ``out.table(name).write(row)``
  and bad records with ``out.reject(...)``.
"""
