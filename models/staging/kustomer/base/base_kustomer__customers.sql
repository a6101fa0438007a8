-- One row per Kustomer customer with the contact fields Gladly imports (guide, section "Kustomer"):
-- the 1st email, the 1st phone, and the name.
with

customers as (

    select * from {{ source('kustomer', 'customers') }}

),

emails as (

    select * from {{ source('kustomer', 'customer_emails') }}

),

phones as (

    select * from {{ source('kustomer', 'customer_phones') }}

),

first_emails as (

    select customer_id, email
    from emails
    where position = 1

),

first_phones as (

    select customer_id, phone
    from phones
    where position = 1

),

joined as (

    select
        -- ids
        customers.customer_id,
        customers.fetch_status,

        -- strings: the guide's "names" is the name; a customer without one falls back to its
        -- display name, then to first + last name
        coalesce(
            {{ blank_to_null('customers.name') }},
            {{ blank_to_null('customers.display_name') }},
            {{ blank_to_null("concat_ws(' ', " ~ blank_to_null('customers.first_name') ~ ", "
                           ~ blank_to_null('customers.last_name') ~ ")") }}
        ) as customer_name,
        first_emails.email as customer_email_raw,
        {{ blank_to_null('first_phones.phone') }} as customer_phone,

        -- booleans
        customers.is_deleted

    from customers
    left join first_emails
        on customers.customer_id = first_emails.customer_id
    left join first_phones
        on customers.customer_id = first_phones.customer_id

)

select * from joined
