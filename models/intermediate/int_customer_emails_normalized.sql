{{ config(materialized='table') }}
-- Each distinct raw customer email, checked once: the normalized address, or NULL when
-- it is not a well-formed address (email-validator, no DNS; "Name <addr>" keeps addr).
with

raw_emails as (

    select distinct customer_email_raw
    from {{ ref('int_conversation_items_unioned') }}
    where {{ blank_to_null('customer_email_raw') }} is not null

),

normalized as (

    select
        customer_email_raw,
        {{ normalize_email('customer_email_raw') }} as customer_email

    from raw_emails

)

select * from normalized
