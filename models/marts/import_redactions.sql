-- What redaction removed from titles and bodies as the records were landed (extract/redact.py),
-- per platform and kind: the values removed, and the items they were removed from (records
-- of the platform's record tables and rejected records with at least one value of the kind in
-- their own text). A value in a row that is no item (a Gorgias ticket's subject, which its
-- messages without a subject take) counts as a value only.
with

redactions as (

    select * from {{ ref('stg_pipeline__extract_redactions') }}

),

summed as (

    select
        source_platform,
        redaction_kind,
        cast(sum(case when is_record_table then rows_redacted else 0 end) as bigint) as items_redacted,
        cast(sum(values_redacted) as bigint) as values_redacted

    from redactions
    group by source_platform, redaction_kind

)

select * from summed
