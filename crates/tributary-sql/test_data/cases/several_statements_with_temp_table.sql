-- about: several statements: a temporary table created first is read by the next statement, so lineage goes through it to the real input
-- dialect: postgres
-- input: pg://db shop.public.orders [order_id, customer_id, amount, status]
-- output: pg://db shop.public.customer_totals [customer_id, total]
set search_path = public;
create temporary table tmp_paid as
    select customer_id, amount from orders where status = 'paid';
insert into customer_totals (customer_id, total)
    select customer_id, sum(amount) from tmp_paid group by customer_id;
drop table tmp_paid;
