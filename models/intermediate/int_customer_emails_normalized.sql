{{ config(materialized='table') }}
-- Each distinct raw customer email, checked once: the normalized address, or NULL when it is not
-- a well-formed address. The rule is decided in Python (gladly_import/email_rules.py:
-- email-validator, no DNS; "Name <addr>" keeps addr) for the distinct addresses of the unioned
-- items, and arrives as the table `email_normalizations`; an address it has no answer for is not
-- normalized (NULL, so rejected as invalid_email: never exported unchecked).
with

raw_emails as (

    select distinct customer_email_raw
    from {{ ref('int_conversation_items_unioned') }}
    where {{ blank_to_null('customer_email_raw') }} is not null

),

decided as (

    select distinct
        customer_email_raw,
        customer_email

    from {{ source('pipeline', 'email_normalizations') }}

),

normalized as (

    select
        raw_emails.customer_email_raw,
        decided.customer_email

    from raw_emails
    left join decided
        on raw_emails.customer_email_raw = decided.customer_email_raw

)

select * from normalized
