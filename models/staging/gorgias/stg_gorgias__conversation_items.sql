-- One Gladly conversation item per Gorgias message (guide, section "Gorgias"), for the
-- customer of the message's ticket. A message whose ticket is not listed (deleted since)
-- keeps its row with no customer: the shared rules reject it as missing_email.
with

messages as (

    select * from {{ ref('base_gorgias__messages') }}

),

tickets as (

    select * from {{ ref('base_gorgias__tickets') }}

),

joined as (

    select
        messages.*,
        tickets.ticket_subject,
        tickets.ticket_tags,
        tickets.customer_email,
        tickets.customer_name,
        tickets.customer_firstname,
        tickets.customer_lastname,
        tickets.ticket_updated_datetime

    from messages
    left join tickets
        on messages.ticket_id = tickets.ticket_id

),

renamed as (

    select
        -- ids
        'gorgias-' || message_id as conversation_item_id,
        'gorgias' as source_platform,
        'Gorgias' as source_name,

        -- timestamps: created_datetime, in any of the formats Gorgias writes
        {{ parse_timestamp_utc('created_datetime') }} as occurred_at,
        cast(created_datetime as {{ dbt.type_string() }}) as occurred_at_raw,
        {{ parse_timestamp_utc('ticket_updated_datetime') }} as source_updated_at,

        -- strings: title = the message's subject, else the ticket's (else the shared
        -- default title); body = body_text
        coalesce({{ blank_to_null('message_subject') }}, {{ blank_to_null('ticket_subject') }}) as title,
        {{ blank_to_null('body_text') }} as body,
        ticket_tags as tags,

        -- customer: the ticket's customer; the name, else first and last name. No phone.
        customer_email as customer_email_raw,
        coalesce(
            {{ blank_to_null('customer_name') }},
            {{ blank_to_null("coalesce(" ~ strip_whitespace('customer_firstname') ~ ", '') || ' ' || coalesce("
                             ~ strip_whitespace('customer_lastname') ~ ", '')") }}
        ) as customer_name,
        cast(null as {{ dbt.type_string() }}) as customer_phone,

        -- lineage
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from joined

)

select * from renamed
