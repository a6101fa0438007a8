{{ config(materialized='table') }}
-- Gladly's rules, each in one place (guide, last paragraph: "Gladly will NOT import any data
-- without at least a well-formatted customer email address and a valid body (<=25K
-- characters) & title (<=100 characters)"). Every row leaves with a reject_reason or none.
{%- set title_max = var('gladly_title_max_chars') %}
{%- set body_max = var('gladly_body_max_chars') %}
{%- set id_max = var('gladly_item_id_max_chars') %}

with

-- duplicates stay, flagged and without a reject_reason (neither exported nor rejected): the
-- reconciliation counts them from this table, not by evaluating the deduplication again (6 s and
-- ~500 MB at 1M items)
items as (

    select * from {{ ref('int_conversation_items_deduplicated') }}

),

emails as (

    select * from {{ ref('int_customer_emails_normalized') }}

),

with_email as (

    select
        items.*,
        emails.customer_email

    from items
    left join emails
        on items.customer_email_raw = emails.customer_email_raw

),

-- a blank title becomes "<Source> message"
titled as (

    select
        *,
        coalesce({{ blank_to_null('title') }}, source_name || ' message') as full_title

    from with_email

),

checked as (

    select
        *,
        case when not is_duplicate then {{ gladly_reject_reason() }} end as reject_reason

    from titled

),

limited as (

    select
        -- ids
        conversation_item_id,
        source_platform,
        source_name,

        -- timestamps
        occurred_at,

        -- strings, cut to Gladly's limits in Unicode characters
        {{ truncate_chars('full_title', title_max) }} as title,
        body,  -- cut to body_max where the platforms are unioned
        body_chars,
        tags,

        -- customer
        customer_email,
        customer_email_raw,
        customer_name,
        customer_phone,

        -- booleans
        coalesce({{ char_length('full_title') }} > {{ title_max }}, false) as is_title_truncated,
        coalesce(body_chars > {{ body_max }}, false) as is_body_truncated,

        -- outcome
        is_duplicate,
        reject_reason,
        case reject_reason
            when 'invalid_id' then 'an item id must be 1 to {{ id_max }} characters of A-Z a-z 0-9 _ -'
            when 'missing_email' then 'no customer email'
            when 'invalid_email' then 'not a well-formed email address'
            when 'empty_body' then 'no body text'
            when 'missing_timestamp' then 'no timestamp'
            when 'unparseable_timestamp' then {{ unparseable_timestamp_detail('occurred_at_raw', 'source_platform') }}
        end as reject_detail,

        -- lineage
        source_file,
        source_row,
        source_position

    from checked

)

select * from limited
