-- about: a named window (WINDOW w AS …) and QUALIFY (Snowflake): the window keys of the column, the QUALIFY filter dataset-wide
-- dialect: snowflake
-- input: snowflake://acct DB.PUBLIC.EVENTS [USER_ID, EVENT_TIME, EVENT_TYPE, PAGE]
select
    user_id,
    page,
    rank() over w as page_rank
from db.public.events
where event_type = 'view'
window w as (partition by user_id order by event_time desc)
qualify row_number() over (partition by user_id order by event_time desc) = 1
