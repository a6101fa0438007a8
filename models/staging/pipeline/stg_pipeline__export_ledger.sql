with

source as (

    select * from {{ source('ledger', 'export_ledger') }}

),

renamed as (

    select
        conversation_item_id,
        source_platform,
        run_id,
        file_name,
        exported_at

    from source

)

select * from renamed
