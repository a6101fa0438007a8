{{ config(materialized='table') }}
-- What this run exports, and to which file: every item in a full run; in a delta run
-- (var import_mode = 'delta') only the items the export ledger and the push ledger have not recorded yet.
-- Rows are numbered in the export order and split into files of batch_size rows.
{%- set delta = var('import_mode') == 'delta' %}

with

items as (

    select * from {{ ref('gladly_conversation_items') }}

),

-- delivered = written to an earlier run's CSV, or accepted by Gladly's API (the push)
ledger as (

    select conversation_item_id
    from {{ ref('stg_pipeline__export_ledger') }}

    union

    select conversation_item_id
    from {{ ref('stg_pipeline__push_ledger') }}
    where is_delivered

),

flagged as (

    select
        items.*,
        ledger.conversation_item_id is not null as is_already_exported

    from items
    left join ledger
        on items.conversation_item_id = ledger.conversation_item_id

),

batch as (

    select * from flagged
    {%- if delta %}
    where not is_already_exported
    {%- endif %}

),

-- the export order is computed on the narrow keys only, then joined back to the wide rows
export_order as (

    select
        conversation_item_id,
        row_number() over (order by occurred_at, conversation_item_id) as export_row_number

    from batch

),

numbered as (

    select
        batch.*,
        export_order.export_row_number

    from batch
    inner join export_order
        on batch.conversation_item_id = export_order.conversation_item_id

),

filed as (

    select
        *,
        'gladly_conversation_items_'
            || lpad(cast(cast({{ var('first_file_number') }} + floor((export_row_number - 1) / {{ var('batch_size') }}) as bigint) as {{ dbt.type_string() }}), 4, '0')
            || '.csv' as file_name

    from numbered

)

select * from filed
