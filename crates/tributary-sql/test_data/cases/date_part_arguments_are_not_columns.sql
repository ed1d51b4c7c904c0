-- about: the date part words of dateadd, datediff and BigQuery's date_trunc are not columns (a model's `day` would otherwise be taken for one)
-- dialect: snowflake
-- input: snowflake://acct SHOP.PUBLIC.ORDERS [ORDER_ID, ORDERED_AT, SHIPPED_AT, DAY]
select
    order_id,
    dateadd(day, 7, ordered_at) as due_at,
    datediff(hour, ordered_at, shipped_at) as hours_to_ship,
    date_trunc(month, ordered_at) as order_month,
    day as order_day
from shop.public.orders
