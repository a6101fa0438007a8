{#- Fails for every row whose email is missing, and for every distinct email that is not
    well-formed or not in its normalized form (each distinct address is checked once), as
    email-validator itself says: not through normalize_email, the rule under test. -#}
{% test is_valid_email(model, column_name) %}

with

emails as (

    select distinct {{ column_name }} as email
    from {{ model }}
    where {{ column_name }} is not null

),

checked as (

    select
        email,
        {{ is_normalized_email('email') }} as is_normalized

    from emails

),

failures as (

    select email from checked
    where not is_normalized

    union all

    select {{ column_name }} as email from {{ model }}
    where {{ column_name }} is null

)

select * from failures

{% endtest %}
