{#- Gladly's email rule: the normalized, well-formed address, or NULL.
    gladly_normalize_email() is email-validator (syntax only, no DNS), registered on every
    engine by the runner: on DuckDB by the dbt plugin gladly_import.dbt_plugin, on Spark as an
    Arrow UDF by gladly_import.engines.spark. The same Python function decides on both. -#}
{% macro normalize_email(expression) -%}
    gladly_normalize_email({{ expression }})
{%- endmacro %}

{#- The email data test's check, email-validator called directly (not normalize_email): true
    when the value is a well-formed address already in its normalized form. -#}
{% macro is_normalized_email(expression) -%}
    gladly_is_normalized_email({{ expression }})
{%- endmacro %}
