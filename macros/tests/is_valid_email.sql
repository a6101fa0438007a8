{#- Fails for every row whose email is missing, not well-formed, or not in normalized form. -#}
{% test is_valid_email(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is null
    or {{ normalize_email(column_name) }} is null
    or {{ normalize_email(column_name) }} <> {{ column_name }}

{% endtest %}
