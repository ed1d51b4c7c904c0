-- about: dbt import CTEs (`select * from source`) over inputs without schemas: the later CTEs' named columns are read through the stars, and nothing reads by position
-- dialect: postgres
-- input: postgres://wh:5432 dev.raw.raw_customers
-- input: postgres://wh:5432 dev.raw.raw_orders
with source_customers as (
    select * from raw.raw_customers
),
source_orders as (
    select * from raw.raw_orders
),
customers as (
    select id as customer_id, first_name, last_name from source_customers
),
orders as (
    select id as order_id, user_id as customer_id, order_date, status from source_orders
),
customer_orders as (
    select
        customer_id,
        min(order_date) as first_order,
        max(order_date) as most_recent_order,
        count(order_id) as number_of_orders
    from orders
    group by customer_id
)
select
    customers.customer_id,
    customers.first_name || ' ' || customers.last_name as full_name,
    customer_orders.first_order,
    customer_orders.most_recent_order,
    coalesce(customer_orders.number_of_orders, 0) as number_of_orders
from customers
left join customer_orders using (customer_id)
