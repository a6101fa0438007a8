-- Every platform's conversation items in one contract (see conversation_item_columns()).
{%- set columns = conversation_item_columns() %}

with

{% for platform in var('platforms') %}
{{ platform }} as (

    select
        {%- for column in columns %}
        {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('stg_' ~ platform ~ '__conversation_items') }}

),

{% endfor %}
unioned as (

    {% for platform in var('platforms') -%}
    select * from {{ platform }}
    {% if not loop.last %}union all
    {% endif -%}
    {%- endfor %}

)

select * from unioned
