-- about: UNION ALL matches columns by position: each output column comes from both sides; the stars over both inputs make them positional (set operation and output)
-- dialect: snowflake
-- input: snowflake://acct SHOP.PUBLIC.ORDERS_2023 [ID, AMOUNT, CREATED]
-- input: snowflake://acct SHOP.PUBLIC.ORDERS_2024 [ID, AMOUNT, CREATED]
-- input: snowflake://acct SHOP.PUBLIC.REFUNDS [REFUND_ID, REFUND_AMOUNT, REFUNDED_AT]
select * from shop.public.orders_2023
union all
select * from shop.public.orders_2024
union all
select refund_id, -refund_amount, refunded_at from shop.public.refunds
