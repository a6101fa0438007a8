-- One row per Freshdesk user id. Split or overlapping Users*.xml files can hold the same
-- user twice: the copy with an email wins, then the one read last.
with

source as (

    select * from {{ source('freshdesk', 'users') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id
            order by
                case when {{ blank_to_null('email') }} is null then 1 else 0 end,
                _source_file desc,
                _source_row desc
        ) as copy_rank

    from source
    where user_id is not null

),

renamed as (

    select
        -- ids
        user_id,

        -- strings
        {{ blank_to_null('name') }} as user_name,
        {{ blank_to_null('email') }} as user_email,
        {{ blank_to_null('phone') }} as user_phone,
        {{ blank_to_null('mobile') }} as user_mobile,

        -- booleans
        is_agent,
        is_deleted

    from ranked
    where copy_rank = 1

)

select * from renamed
