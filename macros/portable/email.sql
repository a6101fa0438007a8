{#- Gladly's email rule: the normalized, well-formed address, or NULL.
    On DuckDB, gladly_normalize_email() is email-validator (syntax only, no DNS),
    registered by the dbt plugin gladly_import.dbt_plugin. Elsewhere a conservative
    syntax check stands in. -#}
{% macro normalize_email(expression) -%}
    {{ return(adapter.dispatch('normalize_email', 'gladly_import')(expression)) }}
{%- endmacro %}

{% macro duckdb__normalize_email(expression) -%}
    gladly_normalize_email({{ expression }})
{%- endmacro %}

{% macro default__normalize_email(expression) -%}
    case
        when regexp_extract(trim({{ expression }}), '<([^<>]+)>\\s*$', 1) rlike '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$'
            then regexp_extract(trim({{ expression }}), '<([^<>]+)>\\s*$', 1)
        when trim({{ expression }}) rlike '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$'
            then trim({{ expression }})
    end
{%- endmacro %}
