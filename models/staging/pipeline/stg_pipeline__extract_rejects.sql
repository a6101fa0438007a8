with

source as (

    select * from {{ source('pipeline', 'extract_rejects') }}

),

renamed as (

    select
        record_id as conversation_item_id,
        source_platform,
        reject_reason,
        reject_detail,
        customer_email_raw,
        raw_excerpt,
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from source

)

select * from renamed
