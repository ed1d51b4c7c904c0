-- about: MERGE (best effort): the ON keys are JOIN uses, the clause conditions filters, updated and inserted columns DIRECT from the source (and the target itself)
-- dialect: snowflake
-- input: snowflake://acct STAGE.SHOP.CUSTOMER_UPDATES [ID, EMAIL, POINTS, OP]
-- output: snowflake://acct PROD.SHOP.CUSTOMERS [ID, EMAIL, POINTS]
merge into prod.shop.customers t
using stage.shop.customer_updates s
    on t.id = s.id
when matched and s.op = 'D' then delete
when matched then update set t.email = s.email, t.points = t.points + s.points
when not matched then insert (id, email, points) values (s.id, s.email, s.points)
