-- One row per Gorgias ticket: what a message needs from its ticket (subject, tags, customer).
with

source as (

    select * from {{ source('gorgias', 'tickets') }}

),

-- a ticket listed twice (never expected: the extractor skips ids it has) must not
-- duplicate its messages in the join: keep the copy listed last
ranked as (

    select
        *,
        row_number() over (partition by ticket_id order by _source_row desc) as listing_rank

    from source

),

renamed as (

    select
        -- ids
        ticket_id,
        customer_id,

        -- strings
        subject as ticket_subject,
        status as ticket_status,
        nullif({{ join_list('tags', ',') }}, '') as ticket_tags,
        customer_email,
        customer_name,
        customer_firstname,
        customer_lastname,

        -- timestamps, as the API wrote them
        created_datetime as ticket_created_datetime,
        updated_datetime as ticket_updated_datetime

    from ranked
    where listing_rank = 1

)

select * from renamed
