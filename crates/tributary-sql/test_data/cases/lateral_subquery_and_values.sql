-- about: a LATERAL subquery reads the relation before it; a VALUES list in FROM gives columns without inputs
-- dialect: postgres
-- input: pg://db shop.public.customers [customer_id, name]
-- input: pg://db shop.public.orders [order_id, customer_id, amount, ordered_at]
select c.name, last_order.amount, labels.label
from customers c
cross join lateral (
    select o.amount from orders o where o.customer_id = c.customer_id order by o.ordered_at desc limit 1
) as last_order
join (values (1, 'first'), (2, 'second')) as labels (n, label) on labels.n = c.customer_id
