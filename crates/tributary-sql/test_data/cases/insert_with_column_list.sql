-- about: INSERT INTO t (columns) SELECT: the list names the output columns by position
-- dialect: postgres
-- input: pg://db shop.staging.orders [id, cust, amt]
-- output: pg://db shop.public.orders [order_id, customer_id, amount, loaded_at]
insert into public.orders (order_id, customer_id, amount, loaded_at)
select id, cust, amt * 100, now() from staging.orders
