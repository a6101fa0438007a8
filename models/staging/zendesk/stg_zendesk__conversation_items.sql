-- One Gladly conversation item per Zendesk ticket comment (guide, section "Zendesk").
with

source as (

    select * from {{ source('zendesk', 'ticket_comments') }}

),

renamed as (

    select
        -- ids
        'zendesk-' || ticket_id || '-' || comment_id as conversation_item_id,
        'zendesk' as source_platform,
        'Zendesk' as source_name,

        -- timestamps: the comment's created_at
        {{ parse_timestamp_utc('comment_created_at') }} as occurred_at,
        cast(comment_created_at as {{ dbt.type_string() }}) as occurred_at_raw,
        {{ parse_timestamp_utc('ticket_updated_at') }} as source_updated_at,

        -- strings: title = the ticket's subject; body = html_body, else plain_body, else body
        ticket_subject as title,
        coalesce(
            {{ blank_to_null('comment_html_body') }},
            {{ blank_to_null('comment_plain_body') }},
            {{ blank_to_null('comment_body') }}
        ) as body,
        nullif({{ join_list('ticket_tags', ',') }}, '') as tags,

        -- customer: the ticket's requester
        requester_email as customer_email_raw,
        {{ blank_to_null('requester_name') }} as customer_name,
        {{ blank_to_null('requester_phone') }} as customer_phone,

        -- lineage
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from source

)

select * from renamed
