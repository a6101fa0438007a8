with

source as (

    select * from {{ source('pipeline', 'extract_manifest') }}

),

renamed as (

    select
        source_platform,
        is_configured,
        files_read,
        records_seen,
        records_extracted,
        records_rejected as records_rejected_at_extract

    from source

)

select * from renamed
