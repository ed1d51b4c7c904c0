-- about: issue 10's dbt model: orders joined to payments on order_id, filtered on payment_status; both keys are INDIRECT uses of every output column
-- dialect: postgres
-- input: postgres://warehouse:5432 analytics.staging.stg_orders [order_id, customer_id, order_date, status]
-- input: postgres://warehouse:5432 analytics.staging.stg_payments [payment_id, order_id, payment_method, payment_status, amount]
-- output: postgres://warehouse:5432 analytics.marts.paid_orders [order_id, customer_id, order_date, amount]
with orders as (

    select * from "analytics"."staging"."stg_orders"

),

payments as (

    select * from "analytics"."staging"."stg_payments"

),

paid as (

    select
        orders.order_id,
        orders.customer_id,
        orders.order_date,
        payments.amount
    from orders
    inner join payments
        on orders.order_id = payments.order_id
    where payments.payment_status = 'success'

)

select * from paid
