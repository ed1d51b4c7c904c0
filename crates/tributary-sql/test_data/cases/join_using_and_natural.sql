-- about: JOIN … USING: the key of both sides is a JOIN use, and unqualified it is not ambiguous; NATURAL JOIN joins on the common columns of known schemas
-- dialect: postgres
-- input: pg://db shop.public.customers [customer_id, name, region_id]
-- input: pg://db shop.public.orders [order_id, customer_id, total]
-- input: pg://db shop.public.regions [region_id, region_name]
select customer_id, c.name, o.total, region_name
from customers c
join orders o using (customer_id)
natural join regions
