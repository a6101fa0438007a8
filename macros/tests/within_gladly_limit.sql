{#- Fails for every row whose text is longer than the Gladly limit named by a project var
    (gladly_title_max_chars, gladly_body_max_chars, ...), counted in Unicode characters. -#}
{% test within_gladly_limit(model, column_name, limit_var) %}

select {{ column_name }}
from {{ model }}
where {{ char_length(column_name) }} > {{ var(limit_var) }}

{% endtest %}
