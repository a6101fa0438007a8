-- One row per Gorgias message, as listed by GET /api/messages.
with

source as (

    select * from {{ source('gorgias', 'messages') }}

),

renamed as (

    select
        -- ids
        message_id,
        ticket_id,

        -- strings
        channel,
        subject as message_subject,
        body_text,

        -- booleans
        is_public,
        is_from_agent,

        -- timestamps, as the API wrote them (several formats)
        created_datetime,

        -- lineage
        _source_file,
        _source_row,
        _source_position

    from source

)

select * from renamed
