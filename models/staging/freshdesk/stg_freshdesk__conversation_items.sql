-- One Gladly conversation item per Freshdesk ticket description and per note
-- (guide, section "Freshdesk").
with

source as (

    select * from {{ ref('base_freshdesk__ticket_items') }}

),

keyed as (

    select
        *,
        coalesce({{ blank_to_null('display_id') }}, {{ blank_to_null('ticket_id') }}) as ticket_key

    from source

),

renamed as (

    select
        -- ids: freshdesk-<display-id> for the description, freshdesk-<display-id>-<note id>
        -- for a note (n<position> when the note has no id); extract/freshdesk.py rejects
        -- items with the same ids
        case
            when item_index = 0 then 'freshdesk-' || ticket_key
            else 'freshdesk-' || ticket_key || '-' || coalesce({{ blank_to_null('note_id') }}, 'n' || cast(item_index as {{ dbt.type_string() }}))
        end as conversation_item_id,
        'freshdesk' as source_platform,
        'Freshdesk' as source_name,

        -- timestamps: the ticket's created-at for the description, the note's for a note
        {{ parse_timestamp_utc('created_at') }} as occurred_at,
        cast(created_at as {{ dbt.type_string() }}) as occurred_at_raw,
        {{ parse_timestamp_utc('ticket_updated_at') }} as source_updated_at,

        -- strings: title "Ticket # <display-id> – <subject>" on every item of the ticket;
        -- body = description (or a note's body), else its HTML version
        case
            when {{ blank_to_null('subject') }} is null then 'Ticket # ' || ticket_key
            else 'Ticket # ' || ticket_key || ' – ' || {{ strip_whitespace('subject') }}
        end as title,
        coalesce({{ blank_to_null('body_text') }}, {{ blank_to_null('body_html') }}) as body,
        nullif({{ join_list('tags', ',') }}, '') as tags,

        -- customer: the requester; email and phone (else mobile) from the users file.
        -- A requester missing from the users file has no email: rejected as missing_email.
        requester_email as customer_email_raw,
        coalesce({{ blank_to_null('requester_name') }}, requester_user_name) as customer_name,
        coalesce(requester_phone, requester_mobile) as customer_phone,

        -- lineage
        _source_file as source_file,
        _source_row as source_row,
        _source_position as source_position

    from keyed

)

select * from renamed
