"""timeline_preview.html: what agents will see on a sample of customers' timelines, before anything is uploaded.

A second self-contained page beside the report (no script, no network). It is rendered from the
exported rows only (``gladly_export_batch``, exactly what the CSVs hold), so what it shows is what
Gladly gets: for each sampled customer the contact card (name, email, phone) and their
conversation items in time order as Gladly's guide describes an item (title, source, timestamp,
body), long bodies folded. Every value is untrusted text and is escaped (Jinja2 autoescape).

The sample: the TOP_CUSTOMERS customers with the most items, RANDOM_CUSTOMERS drawn at random with
a fixed seed (ordered by md5(seed || email): the same draw on every run, on DuckDB and on Spark),
and for any platform still missing, its customer with the most items, so every platform shows.
The SQL is portable and goes through ``conn.execute(sql[, params]).fetchall()`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gladly_import.report import _TEMPLATES, platform_color

PREVIEW_FILE = "timeline_preview.html"
TEMPLATE = "timeline_preview.html.j2"
TOP_CUSTOMERS = 10
RANDOM_CUSTOMERS = 10
SEED = "gladly-import timeline preview"
ITEMS_PER_CUSTOMER = 50  # the most recent ones, shown oldest first; the page says how many are left out
FOLD_CHARS = 700  # a body longer than this, or of more lines than FOLD_LINES, is folded
FOLD_LINES = 10
OTHER_VALUES_SHOWN = 3  # other names or phones seen for a customer, listed on the card

WHY = {"top": "one of the customers with the most items", "random": "drawn at random (fixed seed)",
       "platform": "the customer with the most items of a platform the others do not cover"}


@dataclass
class Customer:
    email: str
    why: str
    items_total: int = 0
    names: list[str] = field(default_factory=list)  # most recent first
    phones: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)


def _placeholders(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


def choose_customers(conn: Any) -> list[Customer]:
    """The sample of customers (see the module's docstring), in the order the page shows them."""
    top = conn.execute(
        f"""
        select customer_email, count(*) as items
        from gladly_export_batch
        group by customer_email
        order by items desc, customer_email
        limit {TOP_CUSTOMERS}
        """
    ).fetchall()
    chosen = [Customer(email, "top") for email, _ in top]
    drawn = conn.execute(
        f"""
        select customer_email
        from (select distinct customer_email from gladly_export_batch) as customers
        order by md5(? || customer_email), customer_email
        limit {TOP_CUSTOMERS + RANDOM_CUSTOMERS}
        """,
        [SEED],
    ).fetchall()
    emails = {c.email for c in chosen}
    for (email,) in drawn:
        if email not in emails and sum(c.why == "random" for c in chosen) < RANDOM_CUSTOMERS:
            chosen.append(Customer(email, "random"))
            emails.add(email)
    if not chosen:
        return []
    covered = {row[0] for row in conn.execute(
        f"select distinct source_platform from gladly_export_batch where customer_email in ({_placeholders(chosen)})",
        [c.email for c in chosen]).fetchall()}
    best_per_platform = conn.execute(
        """
        select source_platform, customer_email
        from (
            select source_platform, customer_email,
                   row_number() over (partition by source_platform order by count(*) desc, customer_email) as rank_in_platform
            from gladly_export_batch
            group by source_platform, customer_email
        ) ranked
        where rank_in_platform = 1
        order by source_platform
        """
    ).fetchall()
    for platform, email in best_per_platform:
        if platform not in covered and email not in emails:
            chosen.append(Customer(email, "platform"))
            emails.add(email)
    return chosen


def gather_timelines(conn: Any, customers: list[Customer]) -> list[Customer]:
    """Each chosen customer's card (names and phones seen, platforms, item count) and latest items."""
    if not customers:
        return customers
    emails = [c.email for c in customers]
    by_email = {c.email: c for c in customers}
    where = f"customer_email in ({_placeholders(emails)})"
    for email, platform, items in conn.execute(
            f"select customer_email, source_platform, count(*) from gladly_export_batch where {where} "
            "group by customer_email, source_platform order by customer_email, source_platform", emails).fetchall():
        by_email[email].platforms.append(platform)
        by_email[email].items_total += int(items)
    for column, target in (("customer_name", "names"), ("customer_phone", "phones")):
        rows = conn.execute(
            f"""
            select customer_email, {column}, max(occurred_at) as last_seen
            from gladly_export_batch
            where {where} and {column} is not null and {column} <> ''
            group by customer_email, {column}
            order by customer_email, last_seen desc, {column}
            """, emails).fetchall()
        for email, value, _ in rows:
            getattr(by_email[email], target).append(value)
    rows = conn.execute(
        f"""
        select customer_email, conversation_item_id, occurred_at_rfc3339, title, body, source_name, tags, source_platform
        from (
            select customer_email, conversation_item_id, occurred_at, occurred_at_rfc3339, title, body, source_name, tags,
                   source_platform,
                   row_number() over (partition by customer_email
                                      order by occurred_at desc, conversation_item_id desc) as recency
            from gladly_export_batch
            where {where}
        ) latest
        where recency <= {ITEMS_PER_CUSTOMER}
        order by customer_email, occurred_at, conversation_item_id
        """, emails).fetchall()
    for email, item_id, timestamp, title, body, source, tags, platform in rows:
        by_email[email].items.append(item_view(item_id, timestamp, title, body, source, tags, platform))
    return customers


def item_view(item_id: Any, timestamp: Any, title: Any, body: Any, source: Any, tags: Any, platform: Any) -> dict[str, Any]:
    """One conversation item as the page shows it: folded when its body is long."""
    text = "" if body is None else str(body)
    fold = len(text) > FOLD_CHARS or text.count("\n") >= FOLD_LINES
    lines = text.splitlines()
    start = "\n".join(lines[:4])[:240]
    return {"id": item_id or "", "timestamp": str(timestamp or "").replace("T", " ").replace(".000Z", " UTC")
            .replace("Z", " UTC"), "title": title or "", "body": text, "source": source or "", "tags": tags or "",
            "platform": platform or "", "color": platform_color(str(platform or "")), "fold": fold,
            "start": start.rstrip() + "\u2026" if fold else "", "chars": len(text), "lines": len(lines)}


def preview_context(customers: list[Customer], run_id: str | None, platforms: list[str]) -> dict[str, Any]:
    cards = []
    for number, c in enumerate(customers, start=1):
        cards.append({
            "anchor": f"customer-{number}", "email": c.email, "why": WHY[c.why],
            "name": c.names[0] if c.names else "", "other_names": c.names[1:1 + OTHER_VALUES_SHOWN],
            "more_names": max(0, len(c.names) - 1 - OTHER_VALUES_SHOWN),
            "phone": c.phones[0] if c.phones else "", "other_phones": c.phones[1:1 + OTHER_VALUES_SHOWN],
            "more_phones": max(0, len(c.phones) - 1 - OTHER_VALUES_SHOWN),
            "platforms": [{"name": p, "color": platform_color(p)} for p in c.platforms],
            "items_total": c.items_total, "timeline": c.items, "left_out": max(0, c.items_total - len(c.items)),
        })
    return {"run_id": run_id or "(not recorded)", "customers": cards, "platforms": platforms,
            "top": TOP_CUSTOMERS, "random": RANDOM_CUSTOMERS, "per_customer": ITEMS_PER_CUSTOMER}


def render_preview(customers: list[Customer], run_id: str | None, platforms: list[str]) -> str:
    return _TEMPLATES.get_template(TEMPLATE).render(preview_context(customers, run_id, platforms))


def write_preview(conn: Any, directory: Path, run_id: str | None) -> dict[str, Any]:
    """Write timeline_preview.html into ``directory``; returns {file, customers} for the summary."""
    customers = gather_timelines(conn, choose_customers(conn))
    platforms = [row[0] for row in conn.execute(
        "select distinct source_platform from gladly_export_batch order by source_platform").fetchall()]
    path = directory / PREVIEW_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(render_preview(customers, run_id, platforms), encoding="utf-8")
    partial.replace(path)
    return {"file": PREVIEW_FILE, "customers": len(customers)}
