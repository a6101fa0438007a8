-- The CSV template's rows, already in Gladly's shape (guide, section "Other Platforms").
with

source as (

    select * from {{ source('csv', 'conversation_items') }}

),

renamed as (

    select
        -- ids: the template's ID when given, else a fingerprint of the row's content,
        -- so the same row gets the same id on every run; a row whose title or body was
        -- redacted as it was landed has its fingerprint from before (extract/csv_template.py),
        -- so redaction never changes an id
        coalesce(
            {{ blank_to_null('item_id') }},
            'csv-' || coalesce(
                fingerprint_before_redaction,
                {{ stable_hash(['customer_email', 'occurred_at', 'title', 'body', 'source_name']) }}
            )
        ) as conversation_item_id,
        'csv' as source_platform,
        coalesce({{ blank_to_null('source_name') }}, default_source_name) as source_name,

        -- timestamps: read as the row was landed (extract/timestamps.py: ISO 8601, RFC 2822, epoch
        -- seconds or milliseconds, sources.csv.timestamp_format) into one canonical text both
        -- engines parse alike; the text as written kept for the reject that quotes it
        {{ parse_timestamp_utc('occurred_at_utc') }} as occurred_at,
        occurred_at as occurred_at_raw,
        cast(null as {{ dbt.type_timestamp() }}) as source_updated_at,  -- no record date but the item's own

        -- strings
        title,
        {{ blank_to_null('body') }} as body,
        {{ blank_to_null('tags') }} as tags,

        -- customer
        customer_email as customer_email_raw,
        {{ blank_to_null('customer_name') }} as customer_name,
        {{ blank_to_null('customer_phone') }} as customer_phone,

        -- lineage
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from source

)

select * from renamed
