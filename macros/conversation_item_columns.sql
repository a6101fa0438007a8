{#- The contract every platform's stg_<platform>__conversation_items model fulfils, in order.
    source_updated_at: when the source last changed the record the item was read from (a
    Zendesk or Freshdesk ticket, a Gorgias ticket, a Kustomer message; NULL where the platform
    has no such date): among copies of one item the newest is kept. occurred_at_raw: the
    timestamp's text as the source wrote it (NULL where there was none), quoted by the
    unparseable_timestamp reject when occurred_at could not be read from it. -#}
{% macro conversation_item_columns() -%}
    {{ return([
        'conversation_item_id', 'source_platform', 'source_name', 'occurred_at', 'occurred_at_raw', 'source_updated_at',
        'title', 'body', 'tags',
        'customer_email_raw', 'customer_name', 'customer_phone',
        'source_file', 'source_row', 'source_position',
    ]) }}
{%- endmacro %}
