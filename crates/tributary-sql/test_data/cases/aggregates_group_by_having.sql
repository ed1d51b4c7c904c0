-- about: aggregates with GROUP BY and HAVING: grouping keys GROUP_BY, the HAVING filter and the WHERE filter are dataset-wide; count masks, sum does not
-- dialect: postgres
-- input: pg://db shop.public.orders [order_id, customer_id, status, amount, ordered_at]
select
    customer_id,
    date_trunc('month', ordered_at) as month,
    count(distinct order_id) as n_orders,
    sum(amount) as revenue,
    avg(amount) filter (where status = 'paid') as avg_paid,
    string_agg(status, ',' order by ordered_at) as statuses
from orders
where status <> 'cancelled'
group by customer_id, date_trunc('month', ordered_at)
having sum(amount) > 100
