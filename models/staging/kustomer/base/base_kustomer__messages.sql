-- One row per Kustomer message, with the contact fields of the customer it points to
-- (relationships.customer). A message whose customer is absent or unknown keeps NULL contact fields.
with

messages as (

    select * from {{ source('kustomer', 'messages') }}

),

customers as (

    select * from {{ ref('base_kustomer__customers') }}

),

joined as (

    select
        -- ids
        messages.message_id,
        messages.customer_id,

        -- strings
        messages.channel,
        messages.app,
        messages.preview,
        messages.subject,
        messages.meta_subject,
        messages.meta_from,
        messages.meta_to,

        -- customer
        customers.customer_email_raw,
        customers.customer_name,
        customers.customer_phone,

        -- timestamps, as the API wrote them
        messages.created_at,
        messages.updated_at,

        -- lineage
        messages._source_file,
        messages._source_row,
        messages._source_position

    from messages
    left join customers
        on messages.customer_id = customers.customer_id

)

select * from joined
