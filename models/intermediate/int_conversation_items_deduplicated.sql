-- The same conversation_item_id read twice (overlapping export files) is kept once:
-- the copy read last wins, the others are flagged and counted as duplicates.
-- Only ids seen more than once are ranked, so the wide rows of the other items (nearly all of
-- them) are never sorted: on a million items this is several times faster.
with

unioned as (

    select * from {{ ref('int_conversation_items_unioned') }}

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

repeated_copies as (

    select
        *,
        row_number() over (
            partition by conversation_item_id
            order by source_file desc, source_row desc, source_position desc
        ) as occurrence_rank

    from counted
    where copies_read > 1

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
        occurrence_rank,
        conversation_item_id is not null and occurrence_rank > 1 as is_duplicate

    from ranked

)

select * from flagged
