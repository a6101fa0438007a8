-- The CSV template's rows, already in Gladly's shape (guide, section "Other Platforms").
with

source as (

    select * from {{ source('csv', 'conversation_items') }}

),

renamed as (

    select
        -- ids: the template's ID when given, else a fingerprint of the row's content,
        -- so the same row gets the same id on every run
        coalesce(
            nullif(trim(item_id), ''),
            'csv-' || {{ stable_hash(['customer_email', 'occurred_at', 'title', 'body', 'source_name']) }}
        ) as conversation_item_id,
        'csv' as source_platform,
        coalesce(nullif(trim(source_name), ''), default_source_name) as source_name,

        -- timestamps
        {{ parse_timestamp_utc('occurred_at') }} as occurred_at,

        -- strings
        title,
        nullif(trim(body), '') as body,
        nullif(trim(tags), '') as tags,

        -- customer
        customer_email as customer_email_raw,
        nullif(trim(customer_name), '') as customer_name,
        nullif(trim(customer_phone), '') as customer_phone,

        -- lineage
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from source

)

select * from renamed
