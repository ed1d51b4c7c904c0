-- about: BigQuery: a backticked project.dataset.table name, UNNEST of an array column, and a struct field
-- dialect: bigquery
-- input: bigquery bq-project.shop.orders [order_id, customer, items, created_at]
select
    o.order_id,
    o.customer.email as customer_email,
    item.sku,
    item.quantity * item.price as line_total
from `bq-project.shop.orders` as o, unnest(o.items) as item
where date(o.created_at) = current_date()
