{#- Fails for every row whose email is missing, and for every distinct email that is not
    well-formed or not in its normalized form, as email-validator itself says
    (`customer_email_is_normalized` of the table email_normalizations: the check computed by
    gladly_import/email_rules.is_normalized_address on each answer, not through normalize_email, the
    rule under test). An email the table never gave as an answer fails too. -#}
{% test is_valid_email(model, column_name) %}

with

emails as (

    select distinct {{ column_name }} as email
    from {{ model }}
    where {{ column_name }} is not null

),

checks as (

    select
        customer_email as email,
        max(case when customer_email_is_normalized then 1 else 0 end) as is_normalized

    from {{ source('pipeline', 'email_normalizations') }}
    where customer_email is not null
    group by customer_email

),

failures as (

    select emails.email from emails
    left join checks
        on emails.email = checks.email
    where coalesce(checks.is_normalized, 0) = 0

    union all

    select {{ column_name }} as email from {{ model }}
    where {{ column_name }} is null

)

select * from failures

{% endtest %}
