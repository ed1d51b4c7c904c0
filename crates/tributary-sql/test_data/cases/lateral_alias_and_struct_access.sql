-- about: a lateral column alias (an earlier select item used by a later one, and by WHERE, as some dialects (Snowflake) allow), and a field of a struct column read unqualified
-- dialect: databricks
-- input: spark://cluster lake.web.visits [visit_id, geo, duration_ms]
select
    visit_id,
    duration_ms / 1000 as duration_s,
    duration_s / 60 as duration_min,
    geo.country as country
from lake.web.visits
where duration_min > 1
