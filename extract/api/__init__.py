"""The one layer under every API source (Kustomer, Gorgias; next Zendesk's API and Gladly's).

- ``extract.http_client``: the HTTP client (deadlines, size caps, retries), with
  ``extract.rate_limits``: the client's budget and the budgets inside it (Kustomer's searches),
  sliding windows and a learned model of a leaky bucket (Gorgias').
- ``config``: base URL (https unless loopback), secrets from environment variables, option checks.
- ``store``: ``Spool`` (records as JSON lines, each id once) and ``State`` (``state.json``, atomic
  and fsynced, tied to one account and set of streams; the plan: fresh, resume, reuse or delta).
- ``stream``: paginators (``WindowedSearch`` for capped searches read in time windows,
  ``CursorListing`` for cursor pages), ``Children`` lookups fetched concurrently, and ``Extraction``, which drives them with
  checkpoints, progress and rejects for pages that cannot be read.
- ``source``: ``ApiSource``, what a platform module fills in, and ``run_source``: plan, read, land.
- ``land``: helpers to land the rejects spool and compute a delta's watermark.

A platform module (``extract/kustomer.py``, ``extract/gorgias.py``) holds its API knowledge only:
endpoints, bodies, shapes, which reading runs in a delta, and the raw rows it lands.

Glossary, for readers who know the Singer SDK or dlt:

==============  ==========================================================================
here            usually called
==============  ==========================================================================
reading         a stream (a listing or search walked page by page: ``Reading``)
paginator       a paginator (``WindowedSearch``, ``CursorListing``)
budget          a rate limit (``RateLimiter``; ``Budget``: one inside another, e.g. searches)
children        child streams (a lookup per parent record: ``Children``)
spool           a local buffer of records as JSON lines, deduplicated by id (``Spool``)
state           the state file / bookmarks (``State``: ``state.json``)
watermark       a bookmark / replication key value (the newest record landed)
land            load: spooled records written as raw Parquet rows
delta           an incremental sync (from the last watermark minus an overlap)
==============  ==========================================================================
"""
