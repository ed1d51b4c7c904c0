-- about: a correlated scalar subquery (its filter and correlation are uses of that column), IN and EXISTS subqueries in WHERE (dataset-wide filters)
-- dialect: postgres
-- input: pg://db shop.public.customers [customer_id, name, segment]
-- input: pg://db shop.public.orders [order_id, customer_id, amount, status]
-- input: pg://db shop.public.blocked [customer_id]
select
    c.name,
    (select max(o.amount) from orders o where o.customer_id = c.customer_id and o.status = 'paid') as largest_order
from customers c
where c.customer_id not in (select customer_id from blocked)
  and exists (select 1 from orders o2 where o2.customer_id = c.customer_id)
