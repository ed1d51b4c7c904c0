-- about: window functions: PARTITION BY and ORDER BY are INDIRECT WINDOW uses of that column only; an aggregate over a window is AGGREGATION, lag a TRANSFORMATION
-- dialect: postgres
-- input: pg://db sales.public.orders [order_id, customer_id, ordered_at, amount]
select
    order_id,
    row_number() over (partition by customer_id order by ordered_at) as order_number,
    sum(amount) over (partition by customer_id) as customer_total,
    lag(amount) over (order by ordered_at) as previous_amount
from orders
