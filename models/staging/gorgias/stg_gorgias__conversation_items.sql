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
        tickets.customer_lastname

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

        -- strings: title = the message's subject, else the ticket's (else the shared
        -- default title); body = body_text
        coalesce(nullif(trim(message_subject), ''), nullif(trim(ticket_subject), '')) as title,
        nullif(trim(body_text), '') as body,
        ticket_tags as tags,

        -- customer: the ticket's customer; the name, else first and last name. No phone.
        customer_email as customer_email_raw,
        coalesce(
            nullif(trim(customer_name), ''),
            nullif(trim(coalesce(trim(customer_firstname), '') || ' ' || coalesce(trim(customer_lastname), '')), '')
        ) as customer_name,
        cast(null as {{ dbt.type_string() }}) as customer_phone,

        -- lineage
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from joined

)

select * from renamed
