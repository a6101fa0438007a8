-- One Gladly conversation item per Kustomer message (guide, section "Kustomer").
with

source as (

    select * from {{ ref('base_kustomer__messages') }}

),

renamed as (

    select
        -- ids
        'kustomer-' || message_id as conversation_item_id,
        'kustomer' as source_platform,
        'Kustomer' as source_name,

        -- timestamps: message.attributes.createdAt
        {{ parse_timestamp_utc('created_at') }} as occurred_at,
        cast(created_at as {{ dbt.type_string() }}) as occurred_at_raw,
        {{ parse_timestamp_utc('updated_at') }} as source_updated_at,

        -- strings: title = attributes.subject, else attributes.meta.subject (a blank one becomes
        -- "Kustomer message" by the shared rule)
        coalesce({{ blank_to_null('subject') }}, {{ blank_to_null('meta_subject') }}) as title,

        -- body = attributes.preview; else, when meta.from and meta.to exist, the guide's sentence
        -- (JavaScript `x || 'default'`: a blank channel or app counts as absent); else "Kustomer message"
        case
            when {{ blank_to_null('preview') }} is not null then preview
            when {{ blank_to_null('meta_from') }} is not null and {{ blank_to_null('meta_to') }} is not null then
                'Communication sent from ' || meta_from
                || ' to ' || meta_to
                || ' on ' || coalesce(created_at, 'an unknown date')
                || ' via ' || coalesce(nullif(channel, ''), 'unknown channel')
                || ' using ' || coalesce(nullif(app, ''), 'unknown app')
                || '. Kustomer API did not return communication contents to import.'
            else 'Kustomer message'
        end as body,
        cast(null as {{ dbt.type_string() }}) as tags,

        -- customer: the 1st email, the name and the 1st phone of the message's customer
        customer_email_raw,
        customer_name,
        customer_phone,

        -- lineage: the API page and the item's place on it
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from source

)

select * from renamed
