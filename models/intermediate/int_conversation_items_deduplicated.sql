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

copies as (

    select
        conversation_item_id,
        count(*) as copies_read

    from unioned
    where conversation_item_id is not null
    group by conversation_item_id

),

counted as (

    select
        unioned.*,
        coalesce(copies.copies_read, 1) as copies_read

    from unioned
    left join copies
        on unioned.conversation_item_id = copies.conversation_item_id

),

single_copies as (

    select
        *,
        cast(1 as bigint) as occurrence_rank

    from counted
    where copies_read = 1

),

repeated_with_email as (

    select
        counted.*,
        emails.customer_email

    from counted
    left join emails
        on counted.customer_email_raw = emails.customer_email_raw
    where counted.copies_read > 1

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
