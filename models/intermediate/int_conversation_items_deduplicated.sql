-- The same conversation_item_id read twice (overlapping export files) is kept once:
-- the copy read last wins, the others are flagged and counted as duplicates.
with

unioned as (

    select * from {{ ref('int_conversation_items_unioned') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by conversation_item_id
            order by source_file desc, source_row desc, source_position desc
        ) as occurrence_rank

    from unioned

),

flagged as (

    select
        *,
        conversation_item_id is not null and occurrence_rank > 1 as is_duplicate

    from ranked

)

select * from flagged
