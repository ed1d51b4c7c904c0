-- about: SELECT * over a join USING lists the join column once (from the first relation), as the database does
-- dialect: postgres
-- input: pg://db shop.public.orders [order_id, customer_id, amount]
-- input: pg://db shop.public.shipments [order_id, shipped_at]
-- output: pg://db shop.public.orders_shipped [order_id, customer_id, amount, shipped_at]
insert into orders_shipped
select * from orders join shipments using (order_id)
