with

source as (

    select * from {{ source('pipeline', 'extract_redactions') }}

),

renamed as (

    select
        source_platform,
        table_name,
        is_record_table,
        redaction_kind,
        rows_redacted,
        values_redacted

    from source

)

select * from renamed
