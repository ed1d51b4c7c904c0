-- about: INSERT without a column list: the target's schema names the columns by position, and the target is written by position
-- dialect: postgres
-- input: pg://db shop.staging.orders [id, cust, amt]
-- output: pg://db shop.public.orders [order_id, customer_id, amount]
insert into public.orders
select id, cust, amt from staging.orders where amt > 0
