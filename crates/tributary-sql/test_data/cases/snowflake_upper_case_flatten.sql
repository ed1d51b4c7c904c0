-- about: Snowflake: lower-case SQL names matched to upper-case datasets and fields (spelled as the schema spells them), JSON path access, LATERAL FLATTEN
-- dialect: snowflake
-- input: snowflake://acct RAW.EVENTS.PAGE_VIEWS [EVENT_ID, PAYLOAD, RECEIVED_AT]
-- output: snowflake://acct ANALYTICS.EVENTS.PAGE_VIEW_TAGS [EVENT_ID, URL, TAG]
select
    v.event_id,
    v.payload:url::string as url,
    f.value::string as tag
from raw.events.page_views v,
    lateral flatten(input => v.payload:tags) f
