{#- Dialect-specific pieces live here, behind adapter.dispatch: models stay portable. -#}

{#- An ISO 8601 / RFC 3339 text as a UTC timestamp (no zone); NULL when it does not parse.
    A text without an offset is taken as UTC. -#}
{% macro parse_timestamp_utc(expression) -%}
    {{ return(adapter.dispatch('parse_timestamp_utc', 'gladly_import')(expression)) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp_utc(expression) -%}
    timezone('UTC', try_cast(trim({{ expression }}) as timestamptz))
{%- endmacro %}

{% macro spark__parse_timestamp_utc(expression) -%}
    to_utc_timestamp(try_to_timestamp(trim({{ expression }})), 'UTC')
{%- endmacro %}

{% macro default__parse_timestamp_utc(expression) -%}
    cast({{ expression }} as timestamp)
{%- endmacro %}

{#- A UTC timestamp as RFC 3339 with milliseconds: 2021-03-04T15:22:10.000Z -#}
{% macro format_rfc3339_ms(expression) -%}
    {{ return(adapter.dispatch('format_rfc3339_ms', 'gladly_import')(expression)) }}
{%- endmacro %}

{% macro duckdb__format_rfc3339_ms(expression) -%}
    strftime({{ expression }}, '%Y-%m-%dT%H:%M:%S.%gZ')
{%- endmacro %}

{% macro default__format_rfc3339_ms(expression) -%}
    date_format({{ expression }}, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
{%- endmacro %}
