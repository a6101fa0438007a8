{#- The contract every platform's stg_<platform>__conversation_items model fulfils, in order. -#}
{% macro conversation_item_columns() -%}
    {{ return([
        'conversation_item_id', 'source_platform', 'source_name', 'occurred_at',
        'title', 'body', 'tags',
        'customer_email_raw', 'customer_name', 'customer_phone',
        'source_file', 'source_row', 'source_position',
    ]) }}
{%- endmacro %}
