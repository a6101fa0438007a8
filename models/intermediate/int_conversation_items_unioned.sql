-- Every platform's conversation items in one contract (see conversation_item_columns()).
-- The body is cut here to Gladly's limit (guide: "Body will get truncated at 25,000
-- characters"), the one place it is cut, and its whole length kept as body_chars (the
-- truncation flag and count): no model after this one carries more of a body than Gladly takes,
-- so a run of 1 MB bodies sorts and joins 25,000 characters a row, not 262,144.
{%- set columns = conversation_item_columns() %}
{%- set body_max = var('gladly_body_max_chars') %}

with

{% for platform in var('platforms') %}
{{ platform }} as (

    select
        {%- for column in columns %}
        {%- if column == 'body' %}
        {{ truncate_chars('body', body_max) }} as body,
        {%- else %}
        {{ column }},
        {%- endif %}
        {%- endfor %}
        {{ char_length('body') }} as body_chars
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
