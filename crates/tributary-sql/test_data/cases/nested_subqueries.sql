-- about: nested subqueries in FROM: lineage read through two levels, the inner filters and join keys carry up as dataset-wide uses
-- dialect: postgres
-- input: pg://db shop.public.orders [order_id, customer_id, amount, status]
-- input: pg://db shop.public.customers [customer_id, country]
select big.country, big.total
from (
    select c.country, sum(t.amount) as total
    from (
        select customer_id, amount from orders where status = 'paid'
    ) as t
    join customers c on c.customer_id = t.customer_id
    group by c.country
) as big
where big.total > 1000
