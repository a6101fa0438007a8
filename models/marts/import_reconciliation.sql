-- Every record an extractor saw is exported by this run, rejected with a reason, a duplicate,
-- or (in a delta run) already exported by an earlier run.
-- records_unaccounted must be 0 for every platform (tested).
with

manifest as (

    select * from {{ ref('stg_pipeline__extract_manifest') }}

),

exported as (

    select
        source_platform,
        count(*) as records_exported,
        sum(case when is_title_truncated then 1 else 0 end) as titles_truncated,
        sum(case when is_body_truncated then 1 else 0 end) as bodies_truncated

    from {{ ref('gladly_export_batch') }}
    group by source_platform

),

-- in a delta run, exportable items a previous run already exported
already_exported as (

    select source_platform, count(*) as records_already_exported
    from {{ ref('gladly_conversation_items') }}
    where conversation_item_id not in (select conversation_item_id from {{ ref('gladly_export_batch') }})
    group by source_platform

),

rejected as (

    select source_platform, count(*) as records_rejected
    from {{ ref('gladly_import_rejects') }}
    group by source_platform

),

duplicates as (

    select source_platform, count(*) as records_duplicate
    from {{ ref('int_conversation_items_validated') }}  -- the deduplication's flags, kept there
    where is_duplicate
    group by source_platform

),

reconciled as (

    select
        manifest.source_platform,
        manifest.is_configured,
        manifest.files_read,
        manifest.records_seen,
        coalesce(exported.records_exported, 0) as records_exported,
        coalesce(rejected.records_rejected, 0) as records_rejected,
        coalesce(duplicates.records_duplicate, 0) as records_duplicate,
        coalesce(already_exported.records_already_exported, 0) as records_already_exported,
        manifest.records_seen
            - coalesce(exported.records_exported, 0)
            - coalesce(rejected.records_rejected, 0)
            - coalesce(duplicates.records_duplicate, 0)
            - coalesce(already_exported.records_already_exported, 0) as records_unaccounted,
        coalesce(exported.titles_truncated, 0) as titles_truncated,
        coalesce(exported.bodies_truncated, 0) as bodies_truncated

    from manifest
    left join exported on manifest.source_platform = exported.source_platform
    left join rejected on manifest.source_platform = rejected.source_platform
    left join duplicates on manifest.source_platform = duplicates.source_platform
    left join already_exported on manifest.source_platform = already_exported.source_platform

)

select
    '{{ var("run_id", "manual") }}' as run_id,
    '{{ var("import_mode") }}' as import_mode,
    reconciled.*
from reconciled
