-- about: Spark: INSERT OVERWRITE TABLE … PARTITION without a column list, LATERAL VIEW explode of an array column
-- dialect: spark
-- input: hive://metastore warehouse.events [user_id, tags, dt]
-- output: hive://metastore warehouse.user_tags [user_id, tag, dt]
insert overwrite table warehouse.user_tags partition (dt)
select user_id, tag, dt
from warehouse.events
lateral view explode(tags) t as tag
where dt >= '2024-01-01'
