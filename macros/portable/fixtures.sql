{#- Unit-test fixtures stay dialect-neutral: a list column is written as JSON text,
    e.g. ticket_tags: '["damaged", "refund"]' (or '[]'). DuckDB casts that text to a list
    itself; Spark cannot cast text to an array, so on Spark the fixture value is parsed with
    from_json. dbt's fixture rendering calls safe_cast for every value; dbt_project.yml's
    `dispatch` lets this project's version come first. -#}
{% macro spark__safe_cast(field, type) -%}
    {%- set is_complex = type.lower().startswith('array') or type.lower().startswith('map') or type.lower().startswith('struct') -%}
    {%- if is_complex and field is string and field.startswith("'") -%}
        from_json({{ field }}, '{{ type }}')
    {%- else -%}
        cast({{ field }} as {{ type }})
    {%- endif -%}
{%- endmacro %}
