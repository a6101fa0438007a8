{#- Fails for every non-NULL value that does not match the regular expression as a whole. -#}
{% test matches_pattern(model, column_name, pattern) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
    and not {{ regex_full_match(column_name, pattern) }}

{% endtest %}
