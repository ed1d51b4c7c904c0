-- about: trino (like presto and athena) has no sqlparser dialect of its own: it maps to the generic one
-- dialect: trino
-- input: trino://cluster hive.web.sessions [session_id, user_id, started_at, pages]
select user_id, approx_distinct(session_id) as sessions, max_by(pages, started_at) as last_pages
from hive.web.sessions
group by user_id
