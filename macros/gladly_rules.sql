{#- Gladly's rules for one item, in the order they are checked (guide, last paragraph: "Gladly will
    NOT import any data without at least a well-formatted customer email address and a valid body
    (<=25K characters) & title (<=100 characters)"): the reject reason, NULL when Gladly takes it.
    Used where items are validated and where copies of one item are ranked, so both agree. Needs
    the columns conversation_item_id, customer_email_raw, customer_email (normalized), body and
    occurred_at. -#}
{% macro gladly_reject_reason() -%}
    case
        when conversation_item_id is null
            or {{ char_length('conversation_item_id') }} > {{ var('gladly_item_id_max_chars') }}
            or not {{ regex_full_match('conversation_item_id', '[A-Za-z0-9_-]+') }}
            then 'invalid_id'
        when {{ blank_to_null('customer_email_raw') }} is null then 'missing_email'
        when customer_email is null then 'invalid_email'
        when {{ blank_to_null('body') }} is null then 'empty_body'
        when occurred_at is null then 'missing_timestamp'
    end
{%- endmacro %}
