-- One Gladly conversation item per email of the Takeout mbox (guide, section "Gmail").
with

source as (

    select * from {{ source('gmail', 'messages') }}

),

renamed as (

    select
        -- ids: from the Message-ID, else from a fingerprint of the message itself,
        -- so the same email gets the same id on every run and every re-export
        'gmail-' || {{ stable_hash(["coalesce(" ~ blank_to_null('message_id') ~ ", content_hash)"]) }}
            as conversation_item_id,
        'gmail' as source_platform,
        'GMail' as source_name,

        -- timestamps: the Date header; when it is missing or unparseable, the date on the
        -- mbox "From " line (Gmail's received date)
        coalesce(
            {{ parse_timestamp_utc('date_utc') }},
            {{ parse_timestamp_utc('separator_date_utc') }}
        ) as occurred_at,
        cast(coalesce(date_utc, separator_date_utc) as {{ dbt.type_string() }}) as occurred_at_raw,
        cast(null as {{ dbt.type_timestamp() }}) as source_updated_at,  -- no record date but the item's own

        -- strings: title = the subject; body = the text/plain part, else the HTML part as text
        subject as title,
        coalesce(
            {{ blank_to_null('body_text') }},
            {{ blank_to_null('body_html_text') }}
        ) as body,
        cast(null as {{ dbt.type_string() }}) as tags,

        -- customer: the sender when the email was received, the first recipient when it was sent
        case when is_sent_by_support then to_address else from_address end as customer_email_raw,
        {{ blank_to_null('case when is_sent_by_support then to_name else from_name end') }} as customer_name,
        cast(null as {{ dbt.type_string() }}) as customer_phone,

        -- lineage
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from source

)

select * from renamed
