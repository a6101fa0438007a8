{#- Gladly's rules for one item, in the order they are checked (guide, last paragraph: "Gladly will
    NOT import any data without at least a well-formatted customer email address and a valid body
    (<=25K characters) & title (<=100 characters)"): the reject reason, NULL when Gladly takes it.
    Used where items are validated and where copies of one item are ranked, so both agree. Needs
    the columns conversation_item_id, customer_email_raw, customer_email (normalized), body,
    occurred_at and occurred_at_raw. -#}
{% macro gladly_reject_reason() -%}
    case
        when conversation_item_id is null
            or {{ char_length('conversation_item_id') }} > {{ var('gladly_item_id_max_chars') }}
            or not {{ regex_full_match('conversation_item_id', '[A-Za-z0-9_-]+') }}
            then 'invalid_id'
        when {{ is_blank('customer_email_raw') }} then 'missing_email'
        when customer_email is null then 'invalid_email'
        when {{ is_blank('body') }} then 'empty_body'
        when occurred_at is null and {{ is_blank('occurred_at_raw') }} then 'missing_timestamp'
        when occurred_at is null then 'unparseable_timestamp'
    end
{%- endmacro %}

{#- The unparseable_timestamp reject's detail: the value as written (its first 100 characters) and
    the forms that would have been read. The CSV template's timestamps are read as they are landed
    (extract/timestamps.py), in more forms than the platforms' own ISO 8601 dates. -#}
{% macro unparseable_timestamp_detail(raw, platform) -%}
    'could not read the timestamp "' || {{ truncate_chars(strip_whitespace(raw), 100) }} || '"; accepted: '
    || case when {{ platform }} = 'csv'
        then 'ISO 8601 (2021-03-04T15:22:10Z), RFC 2822 (Thu, 04 Mar 2021 15:22:10 +0000), epoch seconds'
            || ' (1614871330) or milliseconds (1614871330000); for day- or month-first dates such as'
            || ' 03/04/2021 15:22 set sources.csv.timestamp_format (e.g. %m/%d/%Y %H:%M)'
        else 'ISO 8601 (2021-03-04T15:22:10Z)'
    end
{%- endmacro %}
