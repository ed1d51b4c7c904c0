-- about: CREATE TABLE AS and CREATE VIEW (with a column list) are outputs named by their targets
-- dialect: snowflake
-- input: snowflake://acct RAW.SHOP.ORDERS [ID, CUSTOMER, TOTAL]
-- output: snowflake://acct ANALYTICS.SHOP.ORDERS_CLEAN [ID, CUSTOMER, TOTAL]
-- output: snowflake://acct ANALYTICS.SHOP.BIG_ORDERS [ORDER_ID, TOTAL]
create or replace table analytics.shop.orders_clean as
select id, trim(customer) as customer, total from raw.shop.orders where total is not null;

create or replace view analytics.shop.big_orders (order_id, total) as
select id, total from raw.shop.orders where total > 1000;
