{{ config(materialized='table') }}
-- What this run exports, and to which file: every item in a full run; in a delta run
-- (var import_mode = 'delta') only the items the export ledger and the push ledger have not recorded yet.
-- Rows are numbered in the export order and split into files of batch_size rows.
{%- set delta = var('import_mode') == 'delta' %}

with

items as (

    select * from {{ ref('gladly_conversation_items') }}

),

-- the narrow columns the batch is chosen and numbered by: the wide rows are read once, at the end
item_times as (

    select conversation_item_id, occurred_at
    from {{ ref('gladly_conversation_items') }}

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
        item_times.*,
        ledger.conversation_item_id is not null as is_already_exported

    from item_times
    left join ledger
        on item_times.conversation_item_id = ledger.conversation_item_id

),

batch as (

    select * from flagged
    {%- if delta %}
    where not is_already_exported
    {%- endif %}

),

-- The export order (occurred_at, then id) is numbered on the narrow keys only, then joined back
-- to the wide rows. No window spans all rows (Spark would move them to one partition): rows are
-- numbered within each hour of occurred_at, after the rows of all earlier hours, whose counts
-- are summed over one row per hour.
export_keys as (

    select
        conversation_item_id,
        occurred_at,
        is_already_exported,
        date_trunc('hour', occurred_at) as export_hour

    from batch

),

hour_sizes as (

    select
        export_hour,
        count(*) as hour_rows

    from export_keys
    group by export_hour

),

hour_offsets as (

    select
        export_hour,
        coalesce(sum(hour_rows) over (
            order by export_hour rows between unbounded preceding and 1 preceding
        ), 0) as rows_before

    from hour_sizes

),

export_order as (

    select
        export_keys.conversation_item_id,
        export_keys.is_already_exported,
        hour_offsets.rows_before + row_number() over (
            partition by export_keys.export_hour
            order by export_keys.occurred_at, export_keys.conversation_item_id
        ) as export_row_number

    from export_keys
    inner join hour_offsets
        on export_keys.export_hour = hour_offsets.export_hour

),

-- the wide rows of the batch (a delta's: the ids export_order kept), once
numbered as (

    select
        items.*,
        export_order.is_already_exported,
        export_order.export_row_number

    from items
    inner join export_order
        on items.conversation_item_id = export_order.conversation_item_id

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
