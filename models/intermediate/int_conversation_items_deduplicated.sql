-- The same conversation_item_id read more than once (overlapping export files, a ticket in two
-- exports) is kept once, the same way for every platform. The copy kept is:
--   1. the newest: the latest source_updated_at (a ticket's updated_at where the platform has
--      one; a copy without one ranks after those with one);
--   2. then one Gladly takes (gladly_reject_reason() is NULL), so an incomplete copy (a requester
--      without an email in one export) never hides an importable one;
--   3. then the copy read last.
-- The others are flagged and counted as duplicates. Only ids seen more than once are ranked, so
-- the wide rows of the other items (nearly all of them) are never sorted or joined.
with

unioned as (

    select * from {{ ref('int_conversation_items_unioned') }}

),

emails as (

    select * from {{ ref('int_customer_emails_normalized') }}

),

-- the ids read more than once: one narrow pass over the ids, so the wide rows are joined only to
-- this short list (with every id's count the join held a million ids: ~100 MB and seconds at 1M)
repeated_ids as (

    select
        conversation_item_id,
        count(*) as copies_read

    from unioned
    where conversation_item_id is not null
    group by conversation_item_id
    having count(*) > 1

),

-- occurrence_rank a constant here: a query for the duplicates alone skips these rows unread
single_copies as (

    select
        unioned.*,
        cast(1 as bigint) as copies_read,
        cast(1 as bigint) as occurrence_rank

    from unioned
    left join repeated_ids
        on unioned.conversation_item_id = repeated_ids.conversation_item_id
    where repeated_ids.conversation_item_id is null

),

repeated_with_email as (

    select
        unioned.*,
        repeated_ids.copies_read,
        emails.customer_email

    from unioned
    inner join repeated_ids
        on unioned.conversation_item_id = repeated_ids.conversation_item_id
    left join emails
        on unioned.customer_email_raw = emails.customer_email_raw

),

repeated_checked as (

    select
        *,
        {{ gladly_reject_reason() }} as copy_reject_reason

    from repeated_with_email

),

repeated_copies as (

    select
        {%- for column in conversation_item_columns() %}
        {{ column }},
        {%- endfor %}
        body_chars,
        copies_read,
        row_number() over (
            partition by conversation_item_id
            order by
                source_updated_at desc nulls last,
                case when copy_reject_reason is null then 0 else 1 end,
                source_file desc, source_row desc, source_position desc
        ) as occurrence_rank

    from repeated_checked

),

ranked as (

    select * from single_copies
    union all
    select * from repeated_copies

),

flagged as (

    select
        {%- for column in conversation_item_columns() %}
        {{ column }},
        {%- endfor %}
        body_chars,
        occurrence_rank,
        conversation_item_id is not null and occurrence_rank > 1 as is_duplicate

    from ranked

)

select * from flagged
