-- Every record that will not reach Gladly, with the reason and where it came from:
-- records the extractors could not read, and items that break one of Gladly's rules.
with

rule_rejects as (

    select
        conversation_item_id,
        source_platform,
        reject_reason,
        reject_detail,
        customer_email_raw,
        title as raw_excerpt,
        source_file,
        source_row,
        source_position

    from {{ ref('int_conversation_items_validated') }}
    where reject_reason is not null

),

extract_rejects as (

    select
        conversation_item_id,
        source_platform,
        reject_reason,
        reject_detail,
        customer_email_raw,
        raw_excerpt,
        source_file,
        source_row,
        source_position

    from {{ ref('stg_pipeline__extract_rejects') }}

),

unioned as (

    select * from rule_rejects
    union all
    select * from extract_rejects

)

select * from unioned
