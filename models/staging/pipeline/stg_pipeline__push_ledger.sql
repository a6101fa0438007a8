-- Gladly's answers to the push (gladly_import/push_ledger.py); delivered = on Gladly's timeline.
with

source as (

    select * from {{ source('ledger', 'push_ledger') }}

),

renamed as (

    select
        conversation_item_id,
        import_run_id,
        push_id,
        status,
        status in ('created', 'already_present') as is_delivered,
        gladly_code,
        gladly_detail,
        answered_at

    from source

)

select * from renamed
