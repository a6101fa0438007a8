-- The conversation items Gladly will accept, one row per item, ready for the CSV export.
with

validated as (

    select * from {{ ref('int_conversation_items_validated') }}

),

exportable as (

    select
        conversation_item_id,
        customer_email,
        customer_name,
        customer_phone,
        occurred_at,
        {{ format_rfc3339_ms('occurred_at') }} as occurred_at_rfc3339,
        title,
        body,
        source_name,
        tags,
        source_platform,
        is_title_truncated,
        is_body_truncated,
        body_chars,
        source_file,
        source_row,
        source_position

    from validated
    where reject_reason is null and not is_duplicate

)

select * from exportable
