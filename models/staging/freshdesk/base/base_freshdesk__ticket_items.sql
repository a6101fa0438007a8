-- Every ticket item before the mapping: each ticket's description (item 0), then its notes,
-- with the requester's user row joined by requester-id (the guide's "Users XML file" lookup).
-- The join is why this is a base model: the users file is too large to hold in the extractor.
with

tickets as (

    select * from {{ source('freshdesk', 'tickets') }}

),

notes as (

    select * from {{ source('freshdesk', 'ticket_notes') }}

),

users as (

    select * from {{ ref('base_freshdesk__users') }}

),

-- a note has no date of its own change: it takes its ticket's, from the same file
ticket_updates as (

    select
        ticket_id,
        _source_file,
        max(updated_at) as ticket_updated_at

    from tickets
    group by ticket_id, _source_file

),

descriptions as (

    select
        ticket_id,
        display_id,
        subject,
        requester_id,
        requester_name,
        tags,
        cast(null as {{ dbt.type_string() }}) as note_id,
        0 as item_index,
        description as body_text,
        description_html as body_html,
        created_at,
        updated_at as ticket_updated_at,
        _source_file,
        _source_row,
        _source_position

    from tickets

),

note_items as (

    select
        notes.ticket_id,
        notes.display_id,
        notes.subject,
        notes.requester_id,
        notes.requester_name,
        notes.tags,
        notes.note_id,
        notes.note_index as item_index,
        notes.body as body_text,
        notes.body_html,
        notes.created_at,
        ticket_updates.ticket_updated_at,
        notes._source_file,
        notes._source_row,
        notes._source_position

    from notes
    left join ticket_updates
        on notes.ticket_id = ticket_updates.ticket_id
        and notes._source_file = ticket_updates._source_file

),

items as (

    select * from descriptions
    union all
    select * from note_items

),

joined as (

    select
        items.*,
        users.user_id is not null as has_requester_user,
        users.user_name as requester_user_name,
        users.user_email as requester_email,
        users.user_phone as requester_phone,
        users.user_mobile as requester_mobile

    from items
    left join users
        on items.requester_id = users.user_id

)

select * from joined
